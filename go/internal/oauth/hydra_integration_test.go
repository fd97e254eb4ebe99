//go:build integration

package oauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/browser"
	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/syncbuf"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// The grants of the suite against Ory Hydra v2.3.0 (testenv.StartHydra), the second
// real authorization server; docs/identity-providers.md has the matrix.

func hydraUserProvider(h *testenv.Hydra, clientID string) config.Provider {
	return config.Provider{
		ID: "gw", Name: "Test Gateway", Issuer: h.Issuer, ClientID: clientID, Flow: config.AuthorizationCode,
		Scopes: []string{"openid", "offline_access", "api:read"}, PKCE: true,
		LoginTimeout: 60 * time.Second, HTTPTimeout: 10 * time.Second, ExpirySkew: 30 * time.Second,
	}
}

// hydraPerson is the OpenBrowser hook of the Hydra tests: the login app's form is
// filled by testenv's HTTP browser, which then delivers the redirect to the loopback
// listener (the start URL is used exactly as the client hands it over).
func hydraPerson(t *testing.T, h *testenv.Hydra, opened *int) func(context.Context, string) error {
	return func(_ context.Context, startURL string) error {
		*opened++
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			status, err := h.BrowseAuthorization(ctx, startURL)
			if err != nil {
				t.Errorf("browse authorization at Hydra: %v", err)
				return
			}
			if status != http.StatusOK {
				t.Errorf("the loopback listener answered %d", status)
			}
		}()
		return nil
	}
}

// TestHydraAuthorizationCodeWithHeadlessChromium: authorization code with PKCE
// (S256, public client) at Hydra; the real opener starts headless Chromium, which
// signs in on the login app's form and lands on the loopback page; the access token
// passes the gateway, the id_token was verified against Hydra's JWKS.
func TestHydraAuthorizationCodeWithHeadlessChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is missing: install it with `apt-get install -y chromium` (this test is never skipped)", chromiumPath)
	}
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node is required")
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(root, "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("node_modules/playwright-core is missing: run `npm ci` in %s", root)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "chromium-login.mjs"))
	require.NoError(t, err)

	h := testenv.StartHydra(t, testenv.HydraOptions{})
	h.CreateClient(t, h.PublicCodeClient("code-public"))
	gw := testenv.StartGateway(t, h.Issuer, h.Audience)
	p := hydraUserProvider(h, "code-public")
	p.LoginTimeout = 90 * time.Second
	resultFile := filepath.Join(t.TempDir(), "result.json")
	command := strings.Join([]string{`"` + node + `"`, `"` + script + `"`, `"` + resultFile + `"`}, " ")

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	logs := &syncbuf.Buffer{}
	c := userClient(t, p, logs, oauth.Options{
		Getenv: func(k string) string {
			if k == browser.EnvVar {
				return command
			}
			return os.Getenv(k)
		},
		Prompt: func(pr oauth.Prompt) {
			if strings.Contains(pr.Message, "open this URL in a browser") {
				cancel() // the opener failed: nobody will log in, do not wait
			}
		},
	})
	tok, err := c.Acquire(ctx)
	if errors.Is(err, context.Canceled) {
		t.Fatalf("the browser opener failed; log:\n%s", logs.String())
	}
	require.NoError(t, err)
	res := waitForResult(t, resultFile, 30*time.Second)
	assert.True(t, res.OK, "%+v", res)
	assert.Equal(t, "login-success", res.Page)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/oauth2/callback$`, res.At)
	assert.Equal(t, 1, h.App.Logins(), "Chromium signed in on the login form once")
	assert.False(t, tok.RefreshToken.IsZero(), "offline_access gives a refresh token")
	assert.False(t, tok.IDToken.IsZero(), "the verified id_token is kept")
	assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, tok.AccessToken))
	for _, s := range []string{tok.AccessToken.Reveal(), tok.RefreshToken.Reveal(), tok.IDToken.Reveal()} {
		assert.NotContains(t, logs.String(), s)
	}
}

// TestHydraRefreshWithRotation: a 5 s access token is refreshed by the token
// manager without a second login; Hydra rotates the refresh token; the rotated-out
// one is refused as invalid_grant, and Hydra then revokes the whole grant (its
// refresh-token reuse detection), so the newest refresh token is refused too.
func TestHydraRefreshWithRotation(t *testing.T) {
	h := testenv.StartHydra(t, testenv.HydraOptions{AutoLogin: true, AccessTokenTTL: 5 * time.Second})
	h.CreateClient(t, h.PublicCodeClient("code-public"))
	gw := testenv.StartGateway(t, h.Issuer, h.Audience)
	p := hydraUserProvider(h, "code-public")
	opened := 0
	c := userClient(t, p, &syncbuf.Buffer{}, oauth.Options{OpenBrowser: hydraPerson(t, h, &opened)})
	st, err := store.Open(t.TempDir(), logging.Discard())
	require.NoError(t, err)
	m := tokens.NewManager(tokens.Options{
		ProviderID: p.ID, Grant: c, Entry: st.Entry(p.ID, p.CacheKey()),
		Policy: tokens.Policy{Skew: p.ExpirySkew, UserFlow: true}, Log: logging.Discard(),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	first, err := m.Token(ctx, tokens.AllowLogin)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, first.AccessToken))

	// expires_in and the JWT's exp are whole seconds: wait past both.
	time.Sleep(time.Until(first.ExpiresAt) + 2*time.Second)
	assert.Equal(t, http.StatusUnauthorized, gatewayStatus(t, gw, first.AccessToken), "the first token expired")

	second, err := m.Token(ctx, tokens.NoLogin)
	require.NoError(t, err)
	assert.False(t, second.AccessToken.Equal(first.AccessToken))
	assert.False(t, second.RefreshToken.Equal(first.RefreshToken), "the refresh token rotated")
	assert.False(t, second.IDToken.IsZero(), "Hydra sends a new id_token, verified")
	assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, second.AccessToken))
	assert.Equal(t, 1, opened, "refreshing never opens a browser")
	assert.Equal(t, 1, h.App.Logins())

	_, err = c.Refresh(ctx, first)
	require.Error(t, err)
	assert.ErrorIs(t, err, tokens.ErrInvalidGrant, "reusing a rotated-out refresh token")
	assert.NotContains(t, fmt.Sprintf("%v", err), first.RefreshToken.Reveal())
	_, err = c.Refresh(ctx, second)
	assert.ErrorIs(t, err, tokens.ErrInvalidGrant, "Hydra revokes the grant after a reuse")
}

// TestHydraRevoke: the refresh token revoked through the client (what `logout`
// does) no longer refreshes, and Hydra's introspection says so.
func TestHydraRevoke(t *testing.T) {
	h := testenv.StartHydra(t, testenv.HydraOptions{AutoLogin: true})
	h.CreateClient(t, h.PublicCodeClient("code-public"))
	opened := 0
	c := userClient(t, hydraUserProvider(h, "code-public"), &syncbuf.Buffer{}, oauth.Options{OpenBrowser: hydraPerson(t, h, &opened)})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tok, err := c.Acquire(ctx)
	require.NoError(t, err)
	in, err := h.Introspect(ctx, tok.RefreshToken.Reveal())
	require.NoError(t, err)
	require.True(t, in.Active, "the refresh token is active before the revocation")

	require.NoError(t, c.Revoke(ctx, tok.RefreshToken, oauth.HintRefreshToken))
	in, err = h.Introspect(ctx, tok.RefreshToken.Reveal())
	require.NoError(t, err)
	assert.False(t, in.Active, "revoked at Hydra")
	_, err = c.Refresh(ctx, tok)
	require.ErrorIs(t, err, tokens.ErrInvalidGrant)
	// Revoking again is fine: the server no longer knows the token (RFC 7009 2.2).
	require.NoError(t, c.Revoke(ctx, tok.RefreshToken, oauth.HintRefreshToken))
}

// TestHydraClientCredentials: client_credentials with each client authentication
// method Hydra offers to confidential clients. Hydra's access tokens carry an
// audience only when the token request names one, which client_credentials does not
// send, so Hydra's introspection vouches for them instead of the gateway. A client
// registered for the other method is refused: the method sent is the one configured.
func TestHydraClientCredentials(t *testing.T) {
	h := testenv.StartHydra(t, testenv.HydraOptions{})
	for _, method := range []string{config.AuthMethodBasic, config.AuthMethodPost} {
		h.CreateClient(t, testenv.HydraClient{
			ID: "cc-" + method, Secret: "secret-of-cc-" + method, GrantTypes: []string{"client_credentials"},
			Scope: "api:read api:write", TokenEndpointAuthMethod: method,
		})
	}
	provider := func(id, method string) config.Provider {
		return config.Provider{
			ID: "gw", Issuer: h.Issuer, ClientID: id, ClientSecret: secret.New("secret-of-" + id),
			ClientAuthMethod: method, Flow: config.ClientCredentials, Scopes: []string{"api:read"},
			HTTPTimeout: 10 * time.Second, ExpirySkew: 30 * time.Second,
		}
	}
	tests := []struct {
		name, client, method string
		refused              bool
	}{
		{"client_secret_basic", "cc-client_secret_basic", config.AuthMethodBasic, false},
		{"client_secret_post", "cc-client_secret_post", config.AuthMethodPost, false},
		{"method from discovery", "cc-client_secret_basic", "", false},
		{"basic for a post client is refused", "cc-client_secret_post", config.AuthMethodBasic, true},
		{"post for a basic client is refused", "cc-client_secret_basic", config.AuthMethodPost, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := provider(tc.client, tc.method)
			logs := &syncbuf.Buffer{}
			c := newClient(t, p, logs, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tok, err := c.Acquire(ctx)
			assert.NotContains(t, logs.String(), p.ClientSecret.Reveal())
			if tc.refused {
				require.Error(t, err)
				assert.ErrorIs(t, err, tokens.ErrInvalidClient)
				assert.NotContains(t, err.Error(), p.ClientSecret.Reveal())
				return
			}
			require.NoError(t, err)
			assert.False(t, tok.ExpiresAt.IsZero())
			assert.NotContains(t, logs.String(), tok.AccessToken.Reveal())
			in, err := h.Introspect(ctx, tok.AccessToken.Reveal())
			require.NoError(t, err)
			assert.True(t, in.Active)
			assert.Equal(t, tc.client, in.ClientID)
			assert.Equal(t, "access_token", in.TokenUse)
			assert.Equal(t, "api:read", in.Scope)
		})
	}
}

// TestHydraJWTBearer: the RFC 7523 jwt-bearer grant with an assertion of a trusted
// external issuer (a Hydra trust relationship), read from the environment and sent
// with client_secret_basic; an assertion about a subject Hydra does not trust is
// refused as invalid_grant.
func TestHydraJWTBearer(t *testing.T) {
	h := testenv.StartHydra(t, testenv.HydraOptions{})
	h.CreateClient(t, testenv.HydraClient{
		ID: "bearer", Secret: "bearer-secret", GrantTypes: []string{testenv.GrantJWTBearer},
		Scope: "api:read", TokenEndpointAuthMethod: config.AuthMethodBasic,
	})
	h.TrustExternalIssuer(t, "ci-job", []string{"api:read"})
	p := config.Provider{ID: "gw", Issuer: h.Issuer, ClientID: "bearer", ClientSecret: secret.New("bearer-secret"),
		ClientAuthMethod: config.AuthMethodBasic, Flow: config.JWTBearer, Scopes: []string{"api:read"},
		SubjectToken: &config.SubjectTokenSource{Type: config.SourceEnv, Var: "SUBJECT"}, HTTPTimeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	assertion := h.MintAssertion(t, "ci-job", time.Minute)
	logs := &syncbuf.Buffer{}
	tok, err := newClient(t, p, logs, map[string]string{"SUBJECT": assertion}).Acquire(ctx)
	require.NoError(t, err)
	in, err := h.Introspect(ctx, tok.AccessToken.Reveal())
	require.NoError(t, err)
	assert.True(t, in.Active)
	assert.Equal(t, "ci-job", in.Subject, "the token is about the assertion's subject")
	assert.Equal(t, "bearer", in.ClientID)
	for _, s := range []string{assertion, tok.AccessToken.Reveal(), "bearer-secret"} {
		assert.NotContains(t, logs.String(), s)
	}

	_, err = newClient(t, p, &syncbuf.Buffer{}, map[string]string{"SUBJECT": h.MintAssertion(t, "stranger", time.Minute)}).Acquire(ctx)
	require.Error(t, err)
	assert.ErrorIs(t, err, tokens.ErrInvalidGrant)
}

// TestHydraDoesNotOfferDeviceCodeOrTokenExchange proves the matrix's "not offered"
// cells: Hydra v2.3.0 lists neither grant, has no device authorization endpoint (the
// client says which setting is missing) and answers a token exchange request with
// invalid_request, its answer to a grant type it has no handler for.
func TestHydraDoesNotOfferDeviceCodeOrTokenExchange(t *testing.T) {
	h := testenv.StartHydra(t, testenv.HydraOptions{})
	h.CreateClient(t, testenv.HydraClient{
		ID: "exchange", Secret: "exchange-secret", GrantTypes: []string{"client_credentials"},
		Scope: "api:read", TokenEndpointAuthMethod: config.AuthMethodBasic,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	c := userClient(t, config.Provider{ID: "gw", Issuer: h.Issuer, ClientID: "device", Flow: config.DeviceCode,
		Scopes: []string{"openid"}, HTTPTimeout: 10 * time.Second}, &syncbuf.Buffer{}, oauth.Options{})
	meta, err := c.Metadata(ctx)
	require.NoError(t, err)
	assert.Empty(t, meta.DeviceAuthorizationEndpoint)
	assert.NotContains(t, meta.GrantTypes, testenv.GrantDeviceCode)
	assert.NotContains(t, meta.GrantTypes, testenv.GrantTokenExchange)
	_, err = c.Acquire(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no device_authorization_endpoint")

	p := config.Provider{ID: "gw", Issuer: h.Issuer, ClientID: "exchange", ClientSecret: secret.New("exchange-secret"),
		ClientAuthMethod: config.AuthMethodBasic, Flow: config.TokenExchange, Scopes: []string{"api:read"},
		SubjectToken:     &config.SubjectTokenSource{Type: config.SourceEnv, Var: "SUBJECT"},
		SubjectTokenType: config.DefaultSubjectTokenType, HTTPTimeout: 10 * time.Second}
	_, err = newClient(t, p, &syncbuf.Buffer{}, map[string]string{"SUBJECT": "subject-token-canary"}).Acquire(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "invalid_request")
	assert.NotContains(t, err.Error(), "subject-token-canary")
}

// TestHydraPrivateKeyJWT: client credentials with private_key_jwt at Hydra, which
// checks each assertion against the client's registered public keys: RS256 from a JWK
// set file (kid from the JWK), ES256 from a PEM file with clientAssertionKeyId; two
// requests in a row (a new jti each, Hydra refuses a replay); a key Hydra does not know
// is invalid_client.
func TestHydraPrivateKeyJWT(t *testing.T) {
	h := testenv.StartHydra(t, testenv.HydraOptions{})
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	rsaJWK := jose.JSONWebKey{Key: rsaKey, KeyID: "hydra-rs256", Algorithm: "RS256", Use: "sig"}
	ecJWK := jose.JSONWebKey{Key: ecKey, KeyID: "hydra-es256", Algorithm: "ES256", Use: "sig"}
	for _, c := range []struct {
		id, alg string
		jwk     jose.JSONWebKey
	}{{"pkjwt-rs256", "RS256", rsaJWK}, {"pkjwt-es256", "ES256", ecJWK}} {
		jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{c.jwk.Public()}})
		require.NoError(t, err)
		h.CreateClient(t, testenv.HydraClient{
			ID: c.id, GrantTypes: []string{"client_credentials"}, Scope: "api:read api:write",
			TokenEndpointAuthMethod: config.AuthMethodPrivateKeyJWT, JWKS: jwks, TokenEndpointAuthSigningAlg: c.alg,
		})
	}
	rsaSet, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{rsaJWK}})
	require.NoError(t, err)
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	otherKey, otherErr := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, otherErr)
	otherDER, err2 := x509.MarshalPKCS8PrivateKey(otherKey)
	tests := []struct {
		name, client, file, kid string
		refused                 bool
	}{
		{"RS256 from a JWK set", "pkjwt-rs256", writeFile(t, "rsa.jwks.json", rsaSet), "", false},
		{"ES256 from a PEM file with its kid", "pkjwt-es256", writePEM(t, "PRIVATE KEY", ecDER, err), "hydra-es256", false},
		{"a key Hydra does not know", "pkjwt-es256", writePEM(t, "PRIVATE KEY", otherDER, err2), "hydra-es256", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := config.Provider{
				ID: "gw", Issuer: h.Issuer, ClientID: tc.client, ClientAuthMethod: config.AuthMethodPrivateKeyJWT,
				ClientAssertionKeyFile: tc.file, ClientAssertionKeyID: tc.kid, Flow: config.ClientCredentials,
				Scopes: []string{"api:read"}, HTTPTimeout: 10 * time.Second, ExpirySkew: 30 * time.Second,
			}
			logs := &syncbuf.Buffer{}
			c := newClient(t, p, logs, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tok, err := c.Acquire(ctx)
			if tc.refused {
				require.Error(t, err)
				assert.ErrorIs(t, err, tokens.ErrInvalidClient)
				return
			}
			require.NoError(t, err)
			in, err := h.Introspect(ctx, tok.AccessToken.Reveal())
			require.NoError(t, err)
			assert.True(t, in.Active)
			assert.Equal(t, tc.client, in.ClientID)
			_, err = c.Acquire(ctx)
			require.NoError(t, err, "a second request with a new assertion")
			assert.NotContains(t, logs.String(), tok.AccessToken.Reveal())
		})
	}
}
