package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/syncbuf"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// testCtx bounds every test: nothing may hang.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// debugLogger logs everything, as JSON, to a buffer.
func debugLogger() (*slog.Logger, *syncbuf.Buffer) {
	buf := &syncbuf.Buffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// signingKey is a private JWK and a signer for it.
type signingKey struct {
	jwk    jose.JSONWebKey
	signer jose.Signer
}

func newSigningKey(t *testing.T, kid string, alg jose.SignatureAlgorithm, priv crypto.Signer) signingKey {
	t.Helper()
	if priv == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		priv = k
	}
	jwk := jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: string(alg), Use: "sig"}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jwk}, (&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	return signingKey{jwk: jwk, signer: signer}
}

func (k signingKey) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	raw, err := jwt.Signed(k.signer).Claims(claims).Serialize()
	require.NoError(t, err)
	return raw
}

// fakeAS is a small scripted authorization server for unit tests.
type fakeAS struct {
	t      *testing.T
	srv    *httptest.Server
	issuer string
	key    signingKey

	mu sync.Mutex
	// knobs
	issSupported bool
	noRefresh    bool
	idClaims     func(c map[string]any) // edits the id_token claims
	tokenError   *tokenErr              // answer every token request with this
	gate         chan struct{}          // when set, token requests wait until the fake user is done
	gateOnce     sync.Once
	// records
	authQuery  url.Values
	code       string
	tokenForms []url.Values
	jwksHits   int
}

type tokenErr struct {
	status int
	body   string
}

const (
	testClient = "test-client"
	canaryAT   = "canary-access-token-7f3a9"
	canaryRT   = "canary-refresh-token-2b8c1"
	canaryCode = "canary-authorization-code-91de"
)

func newFakeAS(t *testing.T) *fakeAS {
	t.Helper()
	f := &fakeAS{t: t, key: newSigningKey(t, "k1", jose.ES256, nil), issSupported: true, code: canaryCode}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.issuer = f.srv.URL
	return f
}

func (f *fakeAS) provider() config.Provider {
	return config.Provider{
		ID: "acme", Name: "Acme AI", Issuer: f.issuer, ClientID: testClient,
		Scopes: []string{"openid", "offline_access"}, Flow: config.AuthorizationCode,
		PKCE: true, LoginTimeout: 20 * time.Second,
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeAS) openGate() {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		f.gateOnce.Do(func() { close(gate) })
	}
}

func (f *fakeAS) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil && r.URL.Path == "/token" {
		select {
		case <-gate:
		case <-time.After(10 * time.Second):
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		writeJSON(w, 200, map[string]any{
			"issuer": f.issuer, "authorization_endpoint": f.issuer + "/authorize", "token_endpoint": f.issuer + "/token",
			"jwks_uri": f.issuer + "/jwks", "device_authorization_endpoint": f.issuer + "/device",
			"authorization_response_iss_parameter_supported": f.issSupported,
			"code_challenge_methods_supported":               []string{"S256"},
		})
	case "/jwks":
		f.jwksHits++
		writeJSON(w, 200, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{f.key.jwk.Public()}})
	case "/token":
		require.NoError(f.t, r.ParseForm())
		f.tokenForms = append(f.tokenForms, r.PostForm)
		if f.tokenError != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.tokenError.status)
			// {verifier} echoes the PKCE verifier, as a careless server might.
			_, _ = w.Write([]byte(strings.ReplaceAll(f.tokenError.body, "{verifier}", r.PostForm.Get("code_verifier"))))
			return
		}
		form := r.PostForm
		if form.Get("code") != f.code || f.authQuery == nil || form.Get("redirect_uri") != f.authQuery.Get("redirect_uri") {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
			return
		}
		if ch := f.authQuery.Get("code_challenge"); ch != "" && s256Plain(form.Get("code_verifier")) != ch {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "PKCE verification failed"})
			return
		}
		f.code = "" // single use
		writeJSON(w, 200, f.tokenBody(f.authQuery.Get("nonce")))
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeAS) tokenBody(nonce string) map[string]any {
	claims := map[string]any{
		"iss": f.issuer, "aud": testClient, "sub": "alice",
		"iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix(),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if f.idClaims != nil {
		f.idClaims(claims)
	}
	body := map[string]any{
		"access_token": canaryAT, "token_type": "Bearer", "expires_in": 300,
		"id_token": f.key.sign(f.t, claims), "scope": "openid offline_access",
	}
	if !f.noRefresh {
		body["refresh_token"] = canaryRT
	}
	return body
}

func (f *fakeAS) set(fn func(f *fakeAS)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeAS) tokenCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.tokenForms)
}

func s256Plain(v string) string {
	if v == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func tokensWithRefresh(rt string) tokens.Token {
	return tokens.Token{AccessToken: secret.New("old-at"), RefreshToken: secret.New(rt), IDToken: secret.New("old-id")}
}
