package oauth

import (
	"golang.org/x/oauth2"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
)

// authStyle is where the client id and secret go. It is never
// oauth2.AuthStyleUnknown, so x/oauth2 never sends a failed token request
// a second time with the other style.
func (c *Client) authStyle(meta *Metadata) oauth2.AuthStyle {
	if c.p.ClientSecret.IsZero() {
		return oauth2.AuthStyleInParams // public client: client_id in the body
	}
	switch c.p.ClientAuthMethod {
	case config.AuthMethodBasic:
		return oauth2.AuthStyleInHeader
	case config.AuthMethodPost:
		return oauth2.AuthStyleInParams
	}
	// RFC 8414: the default when the server lists nothing is client_secret_basic.
	if meta == nil || len(meta.TokenEndpointAuthMethods) == 0 {
		return oauth2.AuthStyleInHeader
	}
	for _, m := range meta.TokenEndpointAuthMethods {
		if m == config.AuthMethodBasic {
			return oauth2.AuthStyleInHeader
		}
	}
	for _, m := range meta.TokenEndpointAuthMethods {
		if m == config.AuthMethodPost {
			return oauth2.AuthStyleInParams
		}
	}
	return oauth2.AuthStyleInHeader
}
