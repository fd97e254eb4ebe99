package oauth

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"

	"golang.org/x/oauth2"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

// authStyle is where the client id and secret go. It is never
// oauth2.AuthStyleUnknown, so x/oauth2 never sends a failed token request
// a second time with the other style.
func (c *Client) authStyle(meta *Metadata) oauth2.AuthStyle {
	if c.p.ClientSecret.IsZero() {
		return oauth2.AuthStyleInParams // public client or client assertion: client_id in the body
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
	if !slices.Contains(meta.TokenEndpointAuthMethods, config.AuthMethodBasic) && slices.Contains(meta.TokenEndpointAuthMethods, config.AuthMethodPost) {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// authenticated returns a copy of form with the client assertion added
// when the client authenticates with private_key_jwt (RFC 7523 section
// 2.2). The client id and secret are added where the request is sent
// (x/oauth2 for the token endpoint, postForm elsewhere).
func (c *Client) authenticated(ctx context.Context, meta *Metadata, form url.Values) (url.Values, error) {
	out := maps.Clone(form) // its values are only ever replaced (Set)
	if c.p.ClientAuthMethod != config.AuthMethodPrivateKeyJWT {
		return out, nil
	}
	a, err := c.clientAssertion(ctx, meta)
	if err != nil {
		return nil, err
	}
	out.Set("client_assertion_type", ClientAssertionType)
	out.Set("client_assertion", a.Reveal())
	return out, nil
}

// clientAssertion is a fresh client assertion: signed now with the key
// file, or read from clientAssertionSource (a JWT another party issued for
// this client, such as a GitHub Actions or Kubernetes token trusted by the
// server: the federated-credential pattern).
func (c *Client) clientAssertion(ctx context.Context, meta *Metadata) (secret.String, error) {
	if c.assertion != nil {
		a, err := c.assertion.sign(c.p.ClientID, meta.TokenEndpoint, c.now())
		if err != nil {
			return secret.String{}, fmt.Errorf("provider %q: %w", c.p.ID, err)
		}
		return a, nil
	}
	src := c.p.ClientAssertionSource
	if src == nil {
		return secret.String{}, fmt.Errorf("provider %q: clientAuthMethod private_key_jwt needs clientAssertionKeyFile or clientAssertionSource", c.p.ID)
	}
	return c.readSource(ctx, "clientAssertionSource", src)
}
