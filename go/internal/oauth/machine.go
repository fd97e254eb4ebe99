package oauth

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// Grant type URNs.
const (
	GrantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
)

func (c *Client) clientCredentials(ctx context.Context) (tokens.Token, error) {
	return c.machineGrant(ctx, "client_credentials token request", nil)
}

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
	if c.p.Audience != "" {
		v.Set("audience", c.p.Audience)
	}
	if c.p.RequestedTokenType != "" {
		v.Set("requested_token_type", c.p.RequestedTokenType)
	}
	return c.machineGrant(ctx, "token_exchange token request", v)
}

// machineGrant posts to the token endpoint with the client's authentication.
// extra overrides grant_type for the extension grants (x/oauth2's
// clientcredentials allows exactly that).
func (c *Client) machineGrant(ctx context.Context, op string, extra url.Values) (tokens.Token, error) {
	meta, err := c.Metadata(ctx)
	if err != nil {
		return tokens.Token{}, err
	}
	params := url.Values{}
	for k, v := range extra {
		params[k] = v
	}
	for _, r := range c.p.Resources {
		params.Add("resource", r)
	}
	cfg := clientcredentials.Config{
		ClientID:       c.p.ClientID,
		ClientSecret:   c.p.ClientSecret.Reveal(),
		TokenURL:       meta.TokenEndpoint,
		Scopes:         c.p.Scopes,
		EndpointParams: params,
		AuthStyle:      c.authStyle(meta),
	}
	c.log.Debug("token request", "grant", op, "token_endpoint", redact.URL(meta.TokenEndpoint))
	t, err := cfg.Token(c.ctx(ctx))
	if err != nil {
		return tokens.Token{}, c.classify(op, err)
	}
	return c.fromOAuth2(op, t)
}

// fromOAuth2 converts x/oauth2's token. Expiry is relative to receipt
// (computed from expires_in with the local clock), so a server with a skewed
// clock cannot shorten or lengthen it; a negative, zero or absurd lifetime
// counts as none. A token that cannot go into an Authorization header is
// refused, like on the hand-written path (tokenreq.go).
func (c *Client) fromOAuth2(op string, t *oauth2.Token) (tokens.Token, error) {
	if strings.TrimSpace(t.AccessToken) == "" {
		return tokens.Token{}, fmt.Errorf("provider %q: %s failed: the response has an empty access_token", c.p.ID, op)
	}
	if why := checkTokenText(t.AccessToken, t.TokenType); why != "" {
		return tokens.Token{}, fmt.Errorf("provider %q: %s failed: %s", c.p.ID, op, why)
	}
	out := tokens.Token{
		AccessToken:  secret.New(t.AccessToken),
		TokenType:    t.TokenType,
		RefreshToken: secret.New(t.RefreshToken),
		ObtainedAt:   c.now(),
	}
	switch life := secondsDuration(t.ExpiresIn); {
	case t.ExpiresIn > 0 && life <= maxLifetime:
		out.ExpiresAt = out.ObtainedAt.Add(life)
	case t.ExpiresIn == 0 && t.Expiry.After(out.ObtainedAt) && t.Expiry.Sub(out.ObtainedAt) <= maxLifetime:
		out.ExpiresAt = t.Expiry
	}
	if id, ok := t.Extra("id_token").(string); ok {
		out.IDToken = secret.New(id)
	}
	if s, ok := t.Extra("scope").(string); ok {
		out.Scope = strings.TrimSpace(s)
	}
	return out, nil
}

// Refresh implements tokens.Grant: the refresh_token grant. No scope is
// sent, so the server keeps the original grant's scopes.
func (c *Client) Refresh(ctx context.Context, t tokens.Token) (tokens.Token, error) {
	if t.RefreshToken.IsZero() {
		return tokens.Token{}, fmt.Errorf("provider %q: no refresh token: %w", c.p.ID, tokens.ErrInvalidGrant)
	}
	meta, err := c.Metadata(ctx)
	if err != nil {
		return tokens.Token{}, err
	}
	cfg := oauth2.Config{
		ClientID:     c.p.ClientID,
		ClientSecret: c.p.ClientSecret.Reveal(),
		Endpoint:     oauth2.Endpoint{TokenURL: meta.TokenEndpoint, AuthStyle: c.authStyle(meta)},
	}
	nt, err := cfg.TokenSource(c.ctx(ctx), &oauth2.Token{RefreshToken: t.RefreshToken.Reveal()}).Token()
	if err != nil {
		return tokens.Token{}, c.classify("refresh token request", err)
	}
	out, err := c.fromOAuth2("refresh token request", nt)
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
