package redact

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestText(t *testing.T) {
	tests := []struct {
		name, in, want string
		max            int
	}{
		{"json fields", `{"access_token":"abc","refresh_token" : "d\"ef","x":"keep"}`, `{"access_token":"[redacted]","refresh_token" : "[redacted]","x":"keep"}`, 0},
		{"form fields", `client_secret=s3&code=xyz&state=ok`, `client_secret=[redacted]&code=[redacted]&state=ok`, 0},
		{"bearer any case", `got bearer abc.def and Basic dXNlcjpwYXNz==`, `got bearer [redacted] and Basic [redacted]`, 0},
		{"jwt", `token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig here`, `token [redacted] here`, 0},
		{"control chars and newlines", "a\nb\x00c", "a bc", 0},
		{"C1, bidi and Unicode line breaks", "a\u0085b\u202ec\u2028d\u009be", "a bc de", 0},
		{"credential split by a control character", "Bea\x00rer abc and acc\x01ess_token=xyz", "Bearer [redacted] and access_token=[redacted]", 0},
		{"invalid utf8", "ok\xffok", "ok\uFFFDok", 0},
		{"truncation", strings.Repeat("x", 10), "xxx…", 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Text(tc.in, tc.max))
		})
	}
}

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://user:pw@host.example/path?token=x#frag", "https://host.example/path"},
		{"http://127.0.0.1:8080/v1/models", "http://127.0.0.1:8080/v1/models"},
		{"https://u:p@api.example.com/a%2Fb/v1/models?key=secret#f", "https://api.example.com/a%2Fb/v1/models"},
		{"::not a url?secret=1", "::not a url"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, URL(tc.in))
	}
}

// FuzzText: for any server text, the result is bounded, valid UTF-8
// without control characters, and a bearer credential or a credential
// field planted anywhere in it never survives.
func FuzzText(f *testing.F) {
	f.Add(`{"access_token":"abc"}`, 10)
	f.Add("Bearer abc", 0)
	f.Add("Bea\x00rer", 0)
	f.Add(`{"error":"invalid_grant","error_description":"`, 200)
	f.Add("access_token=", 5)
	f.Add("\xff\xfe\n\r\t", 3)
	const cred = "Zq9canaryCredential7x"
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 1000 {
			max = 100
		}
		for _, in := range []string{
			s,
			s + " Bearer " + cred + " " + s,
			s + " refresh_token=" + cred + "&" + s,
			s + ` {"access_token":"` + cred + `"} ` + s,
		} {
			out := Text(in, max)
			if max > 0 && len([]rune(out)) > max+1 {
				t.Fatalf("%d runes for max %d", len([]rune(out)), max)
			}
			if !utf8.ValidString(out) || !Printable(out) {
				t.Fatalf("invalid UTF-8 or an unprintable character in %q", out)
			}
			if in != s && strings.Contains(out, cred) {
				t.Fatalf("the planted credential survived: %q -> %q", in, out)
			}
		}
	})
}

const sampleJWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIiwiZXhwIjoxfQ.c2lnbmF0dXJlLXBhcnQtb2YtdGhlLWp3dA"

func TestTextCredentialShapes(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"bearer", `missing scope for Bearer abc.def-ghi_jkl~mno+p/q=`, `missing scope for Bearer [redacted]`},
		{"bearer any case", `BEARER abc123 and bearer xyz`, `BEARER [redacted] and bearer [redacted]`},
		{"basic", `Authorization: Basic dXNlcjpwYXNz`, `Authorization: Basic [redacted]`},
		{"jwt", `bad token ` + sampleJWT + ` seen`, `bad token [redacted] seen`},
		{"bearer jwt", `Bearer ` + sampleJWT, `Bearer [redacted]`},
		{"json fields", `{"access_token":"a","Refresh_Token" : "b\"c","client_secret":"d","x-api-key":"e","password":"f","max_tokens":5,"code":"invalid_api_key"}`,
			`{"access_token":"[redacted]","Refresh_Token" : "[redacted]","client_secret":"[redacted]","x-api-key":"[redacted]","password":"[redacted]","max_tokens":5,"code":"[redacted]"}`},
		{"form and query", `access_token=abc&refresh_token=def&api_key=ghi code=jkl&state=s`, `access_token=[redacted]&refresh_token=[redacted]&api_key=[redacted] code=[redacted]&state=s`},
		{"header style", `x-api-key: abc123; cookie: session=1`, `x-api-key: [redacted]; cookie: [redacted]`},
		{"api key shapes", `key sk-proj-abcdefghijklmnop1234 and ghp_abcdefghijklmnopqrstuv`, `key [redacted] and [redacted]`},
		{"opaque base64", `token ` + strings.Repeat("aB1", 14) + `== end`, `token [redacted] end`},
		{"hex", `key 0123456789abcdef0123456789abcdef seen`, `key [redacted] seen`},
		{"long words kept", `model ` + strings.Repeat("a", 50) + ` not found`, `model ` + strings.Repeat("a", 50) + ` not found`},
		{"model path kept", `model accounts/fireworks/models/llama-v3p1-70b-instruct not found`, `model accounts/fireworks/models/llama-v3p1-70b-instruct not found`},
		{"plain message kept", `{"error":{"message":"model not found","code":404}}`, `{"error":{"message":"model not found","code":404}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Text(tt.in, 0))
		})
	}
}

func TestTextKnownSecrets(t *testing.T) {
	assert.Equal(t, "echo [redacted] end", Text("echo opaque-token-1 end", 0, "opaque-token-1"))
	assert.Equal(t, "short ab stays", Text("short ab stays", 0, "ab"), "values under 8 bytes are not matched verbatim")
}

func TestUnprintable(t *testing.T) {
	for _, r := range []rune{0, '\n', '\r', '\t', 0x1b, 0x7f, 0x85, 0x9b, 0x061c, 0x200e, 0x200f, 0x2028, 0x2029, 0x202a, 0x202e, 0x2066, 0x2069} {
		assert.True(t, Unprintable(r), "%U", r)
	}
	for _, r := range []rune{' ', 'a', '~', 0xa0, 'é', 0x200d, 0x2030, 0x2065, 0x206a, '😀'} {
		assert.False(t, Unprintable(r), "%U", r)
	}
	assert.True(t, Printable("Café ünïcode 😀"))
	assert.False(t, Printable("evil\x1b[2J"))
}

func TestClean(t *testing.T) {
	assert.Equal(t, "Nice[2J Name", Clean("Nice\x1b[2J Name\u202e", 0))
	assert.Equal(t, "a b", Clean("a\u0085 b\u2069", 0))
	assert.Equal(t, "plain", Clean("plain", 0))
	assert.Equal(t, "ab…", Clean("a\x00bcdef", 3))
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"abc", 0, "abc"},
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{"ééééé", 4, "ééé…"},
		{"ab", 1, "…"},
		{"", 2, ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Truncate(tt.in, tt.max), "%q %d", tt.in, tt.max)
	}
}
