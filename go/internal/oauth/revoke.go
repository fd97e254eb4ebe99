package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

// Token type hints of RFC 7009 section 2.1.
const (
	HintRefreshToken = "refresh_token"
	HintAccessToken  = "access_token"
)

// ErrNoRevocationEndpoint: the server metadata names no revocation_endpoint
// and the provider configures none (revocationEndpoint).
var ErrNoRevocationEndpoint = errors.New("the server has no revocation endpoint")

// ErrUnsupportedTokenType: the server cannot revoke this kind of token
// (RFC 7009 unsupported_token_type), e.g. self-contained JWT access tokens.
var ErrUnsupportedTokenType = errors.New("the server cannot revoke this kind of token")

// Revoke asks the server to revoke token (RFC 7009), authenticating the way
// the token endpoint is authenticated. hint is HintRefreshToken,
// HintAccessToken or "". Revoking a token the server no longer knows
// succeeds (RFC 7009 2.2). Errors are *Error values classified like token
// errors (a 503 or a timeout is tokens.ErrTransient), or wrap
// ErrNoRevocationEndpoint or ErrUnsupportedTokenType; they never contain the
// token.
func (c *Client) Revoke(ctx context.Context, token secret.String, hint string) error {
	if token.IsZero() {
		return fmt.Errorf("provider %q: no token to revoke", c.p.ID)
	}
	meta, err := c.Metadata(ctx)
	if err != nil {
		return err
	}
	if meta.RevocationEndpoint == "" {
		return fmt.Errorf("provider %q: %w (no revocation_endpoint in the server metadata; set revocationEndpoint in the oauth2 block if it has one)",
			c.p.ID, ErrNoRevocationEndpoint)
	}
	op := "revocation request"
	if hint != "" {
		op = hint + " revocation request"
	}
	form := url.Values{"token": {token.Reveal()}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	c.log.Debug("revocation request", "revocation_endpoint", meta.RevocationEndpoint, "token_type_hint", hint)
	_, err = c.postForm(ctx, op, meta.RevocationEndpoint, meta, form)
	var e *Error
	if errors.As(err, &e) && e.Code == "unsupported_token_type" {
		return fmt.Errorf("%w: %w", ErrUnsupportedTokenType, err)
	}
	return err
}
