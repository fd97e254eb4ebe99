package oauth

import (
	"context"
	"fmt"
	"net/url"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// Grant type URNs.
const (
	GrantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
)

func (c *Client) jwtBearer(ctx context.Context) (tokens.Token, error) {
	assertion, err := c.SubjectToken(ctx)
	if err != nil {
		return tokens.Token{}, err
	}
	return c.machineGrant(ctx, "jwt_bearer token request", url.Values{
		"grant_type": {GrantJWTBearer},
		"assertion":  {assertion.Reveal()},
	})
}

func (c *Client) tokenExchange(ctx context.Context) (tokens.Token, error) {
	subject, err := c.SubjectToken(ctx)
	if err != nil {
		return tokens.Token{}, err
	}
	typ := c.p.SubjectTokenType
	if typ == "" {
		typ = config.DefaultSubjectTokenType
	}
	v := url.Values{
		"grant_type":         {GrantTokenExchange},
		"subject_token":      {subject.Reveal()},
		"subject_token_type": {typ},
	}
	if c.p.RequestedTokenType != "" {
		v.Set("requested_token_type", c.p.RequestedTokenType)
	}
	return c.machineGrant(ctx, "token_exchange token request", v)
}

// machineGrant adds what every machine grant sends (scope, resource,
// audience) to grant and requests the token.
func (c *Client) machineGrant(ctx context.Context, op string, grant url.Values) (tokens.Token, error) {
	meta, err := c.Metadata(ctx)
	if err != nil {
		return tokens.Token{}, err
	}
	c.setGrantParams(grant, nil)
	return c.tokenRequest(ctx, op, meta, grant)
}

// Refresh implements tokens.Grant: the refresh_token grant. No scope is
// sent, so the server keeps the original grant's scopes. When the answer
// has no refresh token, the one sent is kept (x/oauth2 does this).
func (c *Client) Refresh(ctx context.Context, t tokens.Token) (tokens.Token, error) {
	if t.RefreshToken.IsZero() {
		return tokens.Token{}, fmt.Errorf("provider %q: no refresh token: %w", c.p.ID, tokens.ErrInvalidGrant)
	}
	meta, err := c.Metadata(ctx)
	if err != nil {
		return tokens.Token{}, err
	}
	out, err := c.tokenRequest(ctx, "refresh token request", meta, url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {t.RefreshToken.Reveal()},
	})
	if err != nil {
		return tokens.Token{}, err
	}
	// A refresh response may carry a new id_token (OIDC Core 12.2): verify it
	// like the first one, without a nonce, and keep the subject unchanged.
	if !out.IDToken.IsZero() && meta.JWKSURI != "" {
		if _, err := c.verifyIDToken(ctx, meta, out.IDToken, secret.String{}); err != nil {
			return tokens.Token{}, fmt.Errorf("provider %q: the id_token of the refresh response is invalid: %w", c.p.ID, err)
		}
	}
	return out, nil
}
