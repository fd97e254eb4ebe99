package testgateway

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
)

const testAudience = "http://127.0.0.1/gateway"

// fakeIssuer serves a discovery document and a JWKS; it is only the key-publishing half
// of an issuer, enough for minting tokens locally in unit tests.
type fakeIssuer struct {
	srv       *httptest.Server
	key       *rsa.PrivateKey
	kid       string
	jwksHits  atomic.Int32
	discovery atomic.Int32
}

func newFakeIssuer(t *testing.T) *fakeIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	f := &fakeIssuer{key: key, kid: "k1"}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		f.discovery.Add(1)
		writeJSON(w, http.StatusOK, map[string]string{"issuer": f.srv.URL, "jwks_uri": f.srv.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		f.jwksHits.Add(1)
		writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &f.key.PublicKey, KeyID: f.kid, Algorithm: string(jose.RS256), Use: "sig"},
		}})
	})
	return f
}

type mint struct {
	key      any
	kid      string
	alg      jose.SignatureAlgorithm
	issuer   string
	audience []string
	subject  string
	clientID string
	expiry   *time.Time
	noExpiry bool
}

func (f *fakeIssuer) token(t *testing.T, mod func(*mint)) string {
	t.Helper()
	exp := time.Now().Add(time.Minute)
	m := mint{
		key: f.key, kid: f.kid, alg: jose.RS256, issuer: f.srv.URL,
		audience: []string{testAudience}, subject: "alice", clientID: "code-public", expiry: &exp,
	}
	if mod != nil {
		mod(&m)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: m.alg, Key: m.key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", m.kid))
	require.NoError(t, err)
	claims := jwt.Claims{Issuer: m.issuer, Subject: m.subject, Audience: m.audience, IssuedAt: jwt.NewNumericDate(time.Now())}
	if !m.noExpiry {
		claims.Expiry = jwt.NewNumericDate(*m.expiry)
	}
	extra := map[string]any{"scope": "api:read"}
	if m.clientID != "" {
		extra["client_id"] = m.clientID
	}
	raw, err := jwt.Signed(signer).Claims(claims).Claims(extra).Serialize()
	require.NoError(t, err)
	return raw
}

func newTestGateway(t *testing.T, issuer string, mod func(*Options)) (*Gateway, *httptest.Server) {
	t.Helper()
	opts := Options{Issuer: issuer, Audience: testAudience, ModelCount: 3}
	if mod != nil {
		mod(&opts)
	}
	g := New(opts)
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		g.Close()
		srv.Close()
	})
	return g, srv
}

func do(t *testing.T, method, url, token, body string) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}
