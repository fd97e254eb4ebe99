package redact

import (
	"strings"
	"testing"

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

func FuzzText(f *testing.F) {
	f.Add(`{"access_token":"abc"}`, 10)
	f.Add("Bearer abc", 0)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 1000 {
			max = 100
		}
		out := Text(s, max)
		if max > 0 {
			assert.LessOrEqual(t, len([]rune(out)), max+1)
		}
	})
}
