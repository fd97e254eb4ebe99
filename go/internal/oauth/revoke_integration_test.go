//go:build integration

package oauth_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// TestRevokeAgainstTheTestServer: a revoked refresh token no longer
// refreshes (invalid_grant), with discovery finding the endpoint.
func TestRevokeAgainstTheTestServer(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true})
	cfg := oauth2.Config{
		ClientID: testenv.ClientCodePublic, RedirectURL: "http://127.0.0.1:45679" + testenv.CallbackPath,
		Endpoint: oauth2.Endpoint{AuthURL: as.AuthorizationURL(), TokenURL: as.TokenURL(), AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{"openid", "offline_access"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	verifier := oauth2.GenerateVerifier()
	cb, err := as.CompleteAuthorization(ctx, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "consent")))
	require.NoError(t, err)
	u, err := url.Parse(cb)
	require.NoError(t, err)
	tok, err := cfg.Exchange(ctx, u.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)

	c := revokeClient(t, config.Provider{ID: "gw", Issuer: as.Issuer, ClientID: testenv.ClientCodePublic,
		Flow: config.AuthorizationCode, Scopes: []string{"openid", "offline_access"}, PKCE: true, HTTPTimeout: 10 * time.Second})
	require.NoError(t, c.Revoke(ctx, secret.New(tok.RefreshToken), oauth.HintRefreshToken))
	stats, err := as.Stats()
	require.NoError(t, err)
	assert.Equal(t, 1, stats["endpoint:revocation"])

	_, err = c.Refresh(ctx, tokens.Token{RefreshToken: secret.New(tok.RefreshToken)})
	require.ErrorIs(t, err, tokens.ErrInvalidGrant)
	// Revoking again is fine: the server no longer knows the token.
	require.NoError(t, c.Revoke(ctx, secret.New(tok.RefreshToken), oauth.HintRefreshToken))
}
