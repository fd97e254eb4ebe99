package models

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/vymalo/opencode-oauth2/go/internal/redact"
)

// preview is what Fetch's errors carry of a gateway's body.
func preview(body []byte, known ...string) string {
	return redact.Text(string(body), maxPreview, known...)
}

func TestKnownSecrets(t *testing.T) {
	assert.Equal(t, "echo [redacted] end", preview([]byte("echo opaque-token-1 end"), "opaque-token-1"))
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
