package oauth

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

const idIssuer = "https://idp.test"

// jwksServer serves a key set that a test may replace (key rotation).
type jwksServer struct {
	mu   sync.Mutex
	keys []jose.JSONWebKey
	hits int
	srv  *httptest.Server
}

func newJWKSServer(t *testing.T, keys ...signingKey) *jwksServer {
	j := &jwksServer{}
	j.setKeys(keys...)
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.mu.Lock()
		defer j.mu.Unlock()
		j.hits++
		raw := []any{map[string]any{"kty": "unknown-kty", "kid": "future"}} // skipped, not fatal
		for _, k := range j.keys {
			raw = append(raw, k)
		}
		writeJSON(w, 200, map[string]any{"keys": raw})
	}))
	t.Cleanup(j.srv.Close)
	return j
}

func (j *jwksServer) setKeys(keys ...signingKey) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.keys = nil
	for _, k := range keys {
		j.keys = append(j.keys, k.jwk.Public())
	}
}

func hs256(t *testing.T, claims map[string]any, key []byte) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	head := enc(map[string]string{"alg": "HS256", "typ": "JWT", "kid": "k1"}) + "." + enc(claims)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(head))
	return head + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func unsigned(t *testing.T, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

func TestVerifyIDToken(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	ecKey := newSigningKey(t, "k1", jose.ES256, nil)
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	rsaKey := newSigningKey(t, "rsa", jose.RS256, rsaPriv)
	psKey := newSigningKey(t, "ps", jose.PS256, rsaPriv)
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	edKey := newSigningKey(t, "ed", jose.EdDSA, edPriv)
	impostor := newSigningKey(t, "k1", jose.ES256, nil) // same kid, other key

	base := func() map[string]any {
		return map[string]any{
			"iss": idIssuer, "aud": testClient, "sub": "alice", "nonce": "n-123",
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		}
	}
	with := func(edit func(c map[string]any)) map[string]any {
		c := base()
		edit(c)
		return c
	}
	tests := []struct {
		name    string
		token   func(t *testing.T) string
		nonce   string
		wantErr string
	}{
		{name: "ES256 valid", token: func(t *testing.T) string { return ecKey.sign(t, base()) }, nonce: "n-123"},
		{name: "RS256 valid", token: func(t *testing.T) string { return rsaKey.sign(t, base()) }, nonce: "n-123"},
		{name: "PS256 valid", token: func(t *testing.T) string { return psKey.sign(t, base()) }, nonce: "n-123"},
		{name: "EdDSA valid", token: func(t *testing.T) string { return edKey.sign(t, base()) }, nonce: "n-123"},
		{name: "no nonce expected (device flow, refresh)", token: func(t *testing.T) string { return ecKey.sign(t, base()) }},
		{name: "several audiences with azp", nonce: "n-123", token: func(t *testing.T) string {
			return ecKey.sign(t, with(func(c map[string]any) { c["aud"] = []string{testClient, "api"}; c["azp"] = testClient }))
		}},
		{name: "expired within leeway", nonce: "n-123", token: func(t *testing.T) string {
			return ecKey.sign(t, with(func(c map[string]any) { c["exp"] = now.Add(-30 * time.Second).Unix() }))
		}},
		{name: "bad signature", nonce: "n-123", wantErr: "signature does not verify",
			token: func(t *testing.T) string { return impostor.sign(t, base()) }},
		{name: "tampered payload", nonce: "n-123", wantErr: "signature does not verify", token: func(t *testing.T) string {
			parts := strings.Split(ecKey.sign(t, base()), ".")
			b, _ := json.Marshal(with(func(c map[string]any) { c["sub"] = "mallory" }))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
		}},
		{name: "wrong aud", nonce: "n-123", wantErr: "aud does not contain",
			token: func(t *testing.T) string {
				return ecKey.sign(t, with(func(c map[string]any) { c["aud"] = "other-client" }))
			}},
		{name: "several audiences without azp", nonce: "n-123", wantErr: "no azp",
			token: func(t *testing.T) string {
				return ecKey.sign(t, with(func(c map[string]any) { c["aud"] = []string{testClient, "api"} }))
			}},
		{name: "azp of another client", nonce: "n-123", wantErr: "azp is",
			token: func(t *testing.T) string { return ecKey.sign(t, with(func(c map[string]any) { c["azp"] = "other" })) }},
		{name: "wrong iss", nonce: "n-123", wantErr: "iss is",
			token: func(t *testing.T) string {
				return ecKey.sign(t, with(func(c map[string]any) { c["iss"] = "https://evil.test" }))
			}},
		{name: "wrong nonce", nonce: "n-123", wantErr: "nonce does not match",
			token: func(t *testing.T) string { return ecKey.sign(t, with(func(c map[string]any) { c["nonce"] = "n-999" })) }},
		{name: "missing nonce", nonce: "n-123", wantErr: "nonce does not match",
			token: func(t *testing.T) string { return ecKey.sign(t, with(func(c map[string]any) { delete(c, "nonce") })) }},
		{name: "expired", nonce: "n-123", wantErr: "expired",
			token: func(t *testing.T) string {
				return ecKey.sign(t, with(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() }))
			}},
		{name: "nbf within leeway", nonce: "n-123", token: func(t *testing.T) string {
			return ecKey.sign(t, with(func(c map[string]any) { c["nbf"] = now.Add(30 * time.Second).Unix() }))
		}},
		{name: "not valid yet", nonce: "n-123", wantErr: "not valid yet (nbf)", token: func(t *testing.T) string {
			return ecKey.sign(t, with(func(c map[string]any) { c["nbf"] = now.Add(2 * time.Minute).Unix() }))
		}},
		{name: "issued in the future", nonce: "n-123", wantErr: "issued in the future (iat)", token: func(t *testing.T) string {
			return ecKey.sign(t, with(func(c map[string]any) { c["iat"] = now.Add(2 * time.Minute).Unix() }))
		}},
		{name: "no exp", nonce: "n-123", wantErr: "no exp",
			token: func(t *testing.T) string { return ecKey.sign(t, with(func(c map[string]any) { delete(c, "exp") })) }},
		{name: "no sub", nonce: "n-123", wantErr: "no sub",
			token: func(t *testing.T) string { return ecKey.sign(t, with(func(c map[string]any) { delete(c, "sub") })) }},
		{name: "HS256 is never accepted", nonce: "n-123", wantErr: "allowed algorithm",
			token: func(t *testing.T) string { return hs256(t, base(), []byte("client-secret")) }},
		{name: "alg none is never accepted", nonce: "n-123", wantErr: "allowed algorithm",
			token: func(t *testing.T) string { return unsigned(t, base()) }},
		{name: "garbage", nonce: "n-123", wantErr: "not a signed JWT", token: func(*testing.T) string { return "a.b" }},
	}
	jwks := newJWKSServer(t, ecKey, rsaKey, psKey, edKey)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(config.Provider{ID: "acme", Issuer: idIssuer, ClientID: testClient}, Options{
				Log: discardLogger(), Now: func() time.Time { return now },
			})
			require.NoError(t, err)
			meta := &Metadata{Issuer: idIssuer, JWKSURI: jwks.srv.URL}
			raw := tt.token(t)
			got, err := c.verifyIDToken(testCtx(t), meta, secret.New(raw), secret.New(tt.nonce))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Contains(t, err.Error(), `provider "acme"`)
				assert.NotContains(t, err.Error(), raw)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "alice", got.Subject)
		})
	}
}

func TestIDTokenKeyRotationAndCache(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := now
	oldKey := newSigningKey(t, "old", jose.ES256, nil)
	newKey := newSigningKey(t, "new", jose.ES256, nil)
	jwks := newJWKSServer(t, oldKey)
	c, err := New(config.Provider{ID: "acme", Issuer: idIssuer, ClientID: testClient}, Options{
		Log: discardLogger(), Now: func() time.Time { return clock },
	})
	require.NoError(t, err)
	meta := &Metadata{Issuer: idIssuer, JWKSURI: jwks.srv.URL}
	claims := map[string]any{"iss": idIssuer, "aud": testClient, "sub": "alice", "exp": now.Add(time.Hour).Unix()}

	for range 3 {
		_, err = c.verifyIDToken(testCtx(t), meta, secret.New(oldKey.sign(t, claims)), secret.String{})
		require.NoError(t, err)
	}
	assert.Equal(t, 1, jwks.hits, "the key set is cached")

	// The server rotates its key: an unknown kid fetches the set again.
	jwks.setKeys(newKey)
	clock = clock.Add(time.Minute)
	_, err = c.verifyIDToken(testCtx(t), meta, secret.New(newKey.sign(t, claims)), secret.String{})
	require.NoError(t, err)
	assert.Equal(t, 2, jwks.hits)

	// A token from an unknown key does not hammer the server.
	stranger := newSigningKey(t, "stranger", jose.ES256, nil)
	for range 3 {
		_, err = c.verifyIDToken(testCtx(t), meta, secret.New(stranger.sign(t, claims)), secret.String{})
		require.ErrorContains(t, err, "signature does not verify")
	}
	assert.LessOrEqual(t, jwks.hits, 3)
}

func TestIDTokenNeedsJWKS(t *testing.T) {
	c, err := New(config.Provider{ID: "acme", Issuer: idIssuer, ClientID: testClient}, Options{Log: discardLogger()})
	require.NoError(t, err)
	k := newSigningKey(t, "k", jose.ES256, nil)
	raw := k.sign(t, map[string]any{"iss": idIssuer, "aud": testClient, "sub": "a", "exp": time.Now().Add(time.Hour).Unix()})
	_, err = c.verifyIDToken(testCtx(t), &Metadata{Issuer: idIssuer}, secret.New(raw), secret.String{})
	require.ErrorContains(t, err, "jwksUri")
}

// TestRefreshWithoutIDTokenIsAccepted: servers may omit the id_token (and the
// refresh token) on refresh; the manager then keeps the previous ones.
func TestRefreshWithoutIDTokenIsAccepted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"access_token": "new-at", "token_type": "Bearer", "expires_in": 60})
	}))
	t.Cleanup(srv.Close)
	p := config.Provider{ID: "acme", Issuer: srv.URL, ClientID: testClient, Flow: config.AuthorizationCode,
		Scopes: []string{"openid"}, Endpoints: config.Endpoints{Token: srv.URL + "/token", Authorization: srv.URL + "/auth", JWKS: srv.URL + "/jwks"}}
	c, err := New(p, Options{Log: discardLogger()})
	require.NoError(t, err)
	got, err := c.Refresh(testCtx(t), tokensWithRefresh("old-rt"))
	require.NoError(t, err)
	assert.Equal(t, "new-at", got.AccessToken.Reveal())
	assert.True(t, got.IDToken.IsZero())
	assert.Equal(t, "old-rt", got.RefreshToken.Reveal(), "the old refresh token is kept")
}

// TestIDTokenKeySetFailureIsClassified: a key set the server cannot serve
// now is a failed request like any other (a 503 is temporary), not a bad
// id_token.
func TestIDTokenKeySetFailureIsClassified(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		transient bool
	}{
		{name: "503", status: http.StatusServiceUnavailable, transient: true},
		{name: "404", status: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tt.status) }))
			t.Cleanup(srv.Close)
			c, err := New(config.Provider{ID: "acme", Issuer: idIssuer, ClientID: testClient}, Options{Log: discardLogger()})
			require.NoError(t, err)
			k := newSigningKey(t, "k", jose.ES256, nil)
			raw := k.sign(t, map[string]any{"iss": idIssuer, "aud": testClient, "sub": "a", "exp": time.Now().Add(time.Hour).Unix()})
			_, err = c.verifyIDToken(testCtx(t), &Metadata{Issuer: idIssuer, JWKSURI: srv.URL + "/jwks"}, secret.New(raw), secret.String{})
			require.ErrorContains(t, err, fmt.Sprintf("JWKS request to %s/jwks failed: HTTP %d", srv.URL, tt.status))
			assert.Equal(t, tt.transient, errors.Is(err, tokens.ErrTransient))
		})
	}
}
