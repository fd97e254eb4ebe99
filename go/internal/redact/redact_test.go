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
		{"credential split by a control character", "Bea\x00rer abc and acc\x01ess_token=xyz", "Bearer [redacted] and access_token=[redacted]", 0},
		{"invalid utf8", "ok\xffok", "ok\uFFFDok", 0},
		{"truncation", strings.Repeat("x", 10), "xxxx…", 4},
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
			if !utf8.ValidString(out) || strings.ContainsFunc(out, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("invalid UTF-8 or a control character in %q", out)
			}
			if in != s && strings.Contains(out, cred) {
				t.Fatalf("the planted credential survived: %q -> %q", in, out)
			}
		}
	})
}
