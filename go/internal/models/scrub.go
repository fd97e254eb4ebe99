package models

import (
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
)

// maxPreview is the most characters of a gateway's body an error carries.
const maxPreview = 300

// preview renders a response body for an error message: credentials (the
// known values and whatever looks like one) masked, one line of valid
// UTF-8, at most maxPreview characters.
func preview(body []byte, known ...string) string {
	return redact.Text(string(body), maxPreview, known...)
}
