package models

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestScrub(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"bearer", `missing scope for Bearer abc.def-ghi_jkl~mno+p/q=`, `missing scope for Bearer [redacted]`},
		{"bearer any case", `BEARER abc123 and bearer xyz`, `BEARER [redacted] and bearer [redacted]`},
		{"basic", `Authorization: Basic dXNlcjpwYXNz`, `Authorization: Basic [redacted]`},
		{"jwt", `bad token ` + testJWT + ` seen`, `bad token [redacted-jwt] seen`},
		{"bearer jwt", `Bearer ` + testJWT, `Bearer [redacted-jwt]`},
		{"json fields", `{"access_token":"a","Refresh_Token" : "b\"c","client_secret":"d","x-api-key":"e","password":"f","max_tokens":5,"code":"invalid_api_key"}`,
			`{"access_token":"[redacted]","Refresh_Token" : "[redacted]","client_secret":"[redacted]","x-api-key":"[redacted]","password":"[redacted]","max_tokens":5,"code":"invalid_api_key"}`},
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
			assert.Equal(t, tt.want, scrub(tt.in))
		})
	}
}

func TestScrubKnownSecrets(t *testing.T) {
	assert.Equal(t, "echo [redacted] end", scrub("echo opaque-token-1 end", "opaque-token-1"))
	assert.Equal(t, "short ab stays", scrub("short ab stays", "ab"), "secrets under 8 bytes are not matched verbatim")
	assert.Equal(t, []string{"Bearer xyz", "xyz"}, knownSecrets(testAuthOf("Bearer xyz")))
	assert.Nil(t, knownSecrets(testAuthOf("")))
}

func TestPreview(t *testing.T) {
	assert.Equal(t, "a b c", preview([]byte("  a\n\tb\r\n\x00c  ")))
	assert.Equal(t, "bad \uFFFD byte", preview([]byte("bad \xff byte")))
	long := preview([]byte(strings.Repeat("é", 1000)))
	assert.Equal(t, 300, utf8.RuneCountInString(long))
	assert.True(t, strings.HasSuffix(long, "…"))
	assert.Equal(t, strings.Repeat("x", 300), preview([]byte(strings.Repeat("x", 300))))
	assert.Empty(t, preview(nil))
}
