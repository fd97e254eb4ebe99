package testgateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAuthentication(t *testing.T) {
	iss := newFakeIssuer(t)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	past := time.Now().Add(-time.Minute)

	tests := []struct {
		name       string
		token      func() string
		header     string
		wantStatus int
		wantErr    string
	}{
		{name: "valid", token: func() string { return iss.token(t, nil) }, wantStatus: http.StatusOK},
		{name: "valid client credentials token without client_id claim", token: func() string {
			return iss.token(t, func(m *mint) { m.clientID = "" })
		}, wantStatus: http.StatusOK},
		{name: "missing header", wantStatus: http.StatusUnauthorized, wantErr: "missing Authorization header"},
		{name: "basic scheme", header: "Basic Zm9vOmJhcg==", wantStatus: http.StatusUnauthorized, wantErr: "not a Bearer token"},
		{name: "garbage", token: func() string { return "not-a-jwt" }, wantStatus: http.StatusUnauthorized, wantErr: "malformed token"},
		{name: "wrong issuer", token: func() string {
			return iss.token(t, func(m *mint) { m.issuer = "http://127.0.0.1:1" })
		}, wantStatus: http.StatusUnauthorized, wantErr: "claims rejected"},
		{name: "wrong audience", token: func() string {
			return iss.token(t, func(m *mint) { m.audience = []string{"http://127.0.0.1/other"} })
		}, wantStatus: http.StatusUnauthorized, wantErr: "claims rejected"},
		{name: "expired", token: func() string {
			return iss.token(t, func(m *mint) { m.expiry = &past })
		}, wantStatus: http.StatusUnauthorized, wantErr: "expired"},
		{name: "no exp", token: func() string {
			return iss.token(t, func(m *mint) { m.noExpiry = true })
		}, wantStatus: http.StatusUnauthorized, wantErr: "no exp"},
		{name: "signed by another key with the same kid", token: func() string {
			return iss.token(t, func(m *mint) { m.key = otherKey })
		}, wantStatus: http.StatusUnauthorized, wantErr: "invalid signature"},
		{name: "unknown kid", token: func() string {
			return iss.token(t, func(m *mint) { m.key = ecKey; m.alg = jose.ES256; m.kid = "nope" })
		}, wantStatus: http.StatusUnauthorized, wantErr: `no key with kid "nope"`},
		{name: "tampered payload", token: func() string {
			parts := strings.Split(iss.token(t, nil), ".")
			other := strings.Split(iss.token(t, func(m *mint) { m.subject = "mallory" }), ".")
			return parts[0] + "." + other[1] + "." + parts[2]
		}, wantStatus: http.StatusUnauthorized, wantErr: "invalid signature"},
		{name: "alg none", token: func() string {
			parts := strings.Split(iss.token(t, nil), ".")
			return "eyJhbGciOiJub25lIn0." + parts[1] + "."
		}, wantStatus: http.StatusUnauthorized, wantErr: "malformed token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, srv := newTestGateway(t, iss.srv.URL, nil)
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/v1/models", nil)
			require.NoError(t, err)
			switch {
			case tt.header != "":
				req.Header.Set("Authorization", tt.header)
			case tt.token != nil:
				req.Header.Set("Authorization", "Bearer "+tt.token())
			}
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, tt.wantStatus, resp.StatusCode, string(body))

			st := g.Stats()
			if tt.wantErr == "" {
				assert.Equal(t, 1, st.Authorized)
				assert.Equal(t, "alice", st.LastSubject)
				return
			}
			assert.Equal(t, 1, st.Unauthorized)
			assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`)
			var e apiError
			require.NoError(t, json.Unmarshal(body, &e))
			assert.Equal(t, "invalid_api_key", e.Error.Code)
			assert.Contains(t, e.Error.Message, tt.wantErr)
		})
	}
}

func TestJWKSIsCached(t *testing.T) {
	iss := newFakeIssuer(t)
	_, srv := newTestGateway(t, iss.srv.URL, nil)
	for range 5 {
		resp, _ := do(t, http.MethodGet, srv.URL+"/v1/models", iss.token(t, nil), "")
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	assert.Equal(t, int32(1), iss.discovery.Load())
	assert.Equal(t, int32(1), iss.jwksHits.Load())

	// An unknown kid right after a fetch does not hammer the issuer.
	for range 3 {
		resp, _ := do(t, http.MethodGet, srv.URL+"/v1/models", iss.token(t, func(m *mint) { m.kid = "rotated" }), "")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	assert.Equal(t, int32(1), iss.jwksHits.Load())
}

func TestIssuerMismatchInDiscovery(t *testing.T) {
	iss := newFakeIssuer(t)
	// The gateway is told a different issuer URL than the one the discovery document
	// names (trailing slash): it must refuse rather than trust the document.
	_, srv := newTestGateway(t, iss.srv.URL+"/", nil)
	resp, body := do(t, http.MethodGet, srv.URL+"/v1/models", iss.token(t, nil), "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, string(body), "does not match")
}
