package models

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
)

// preview is what Fetch's errors carry of a gateway's body.
func preview(body []byte, known ...string) string {
	return redact.Text(string(body), maxPreview, known...)
}

func TestKnownSecrets(t *testing.T) {
	assert.Equal(t, "echo [redacted] end", preview([]byte("echo opaque-token-1 end"), "opaque-token-1"))
	// Fetch's errors mask the whole authorization value and its credential
	// without the scheme, wherever a gateway echoes them.
	for _, tc := range []struct{ value, body, want string }{
		{"Custom opaque-token-1", "echo Custom opaque-token-1 and opaque-token-1 end", "echo [redacted] and [redacted] end"},
		{"opaque-token-1", "echo opaque-token-1 end", "echo [redacted] end"},
		{"", "echo opaque-token-1 end", "echo opaque-token-1 end"},
	} {
		srv := gateway(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, tc.body)
		})
		_, err := Fetcher{}.Fetch(context.Background(), srv.URL+"/v1/models", "X-Key", testAuthOf(tc.value))
		var he *HTTPError
		require.ErrorAs(t, err, &he)
		assert.Equal(t, tc.want, he.Preview, "%q", tc.value)
	}
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
