//go:build integration

package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDiscovery(t *testing.T) {
	s := StartAuthServer(t, AuthServerOptions{})
	ctx := testCtx(t)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Issuer+"/.well-known/openid-configuration", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	var meta struct {
		Issuer                 string   `json:"issuer"`
		ISSParameterSupported  bool     `json:"authorization_response_iss_parameter_supported"`
		GrantTypes             []string `json:"grant_types_supported"`
		CodeChallengeMethods   []string `json:"code_challenge_methods_supported"`
		TokenEndpoint          string   `json:"token_endpoint"`
		DeviceEndpoint         string   `json:"device_authorization_endpoint"`
		RevocationEndpoint     string   `json:"revocation_endpoint"`
		IntrospectionEndpoint  string   `json:"introspection_endpoint"`
		JWKSURI                string   `json:"jwks_uri"`
		ResponseTypesSupported []string `json:"response_types_supported"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&meta))
	assert.Equal(t, s.Issuer, meta.Issuer)
	assert.True(t, meta.ISSParameterSupported)
	assert.Equal(t, []string{"S256"}, meta.CodeChallengeMethods)
	assert.Equal(t, []string{"code"}, meta.ResponseTypesSupported)
	assert.Subset(t, meta.GrantTypes, []string{
		"authorization_code", "refresh_token", "client_credentials",
		GrantDeviceCode, GrantJWTBearer, GrantTokenExchange,
	})
	assert.Equal(t, s.TokenURL(), meta.TokenEndpoint)
	assert.Equal(t, s.DeviceAuthorizationURL(), meta.DeviceEndpoint)
	assert.Equal(t, s.RevocationURL(), meta.RevocationEndpoint)
	assert.Equal(t, s.IntrospectionURL(), meta.IntrospectionEndpoint)
	assert.Equal(t, s.JWKSURL(), meta.JWKSURI)
}

func TestClientCredentials(t *testing.T) {
	s := StartAuthServer(t, AuthServerOptions{AccessTokenTTL: 2 * time.Second})
	gw := StartGateway(t, s.Issuer, s.Audience)

	tests := []struct {
		name       string
		auth       clientAuth
		wantStatus int
		wantError  string
	}{
		{name: "basic", auth: clientAuth{id: ClientCCBasic, secret: ClientCCBasicSecret}, wantStatus: 200},
		{name: "post", auth: clientAuth{id: ClientCCPost, secret: ClientCCPostSecret, post: true}, wantStatus: 200},
		{name: "basic client using post", auth: clientAuth{id: ClientCCBasic, secret: ClientCCBasicSecret, post: true}, wantStatus: 401, wantError: "invalid_client"},
		{name: "post client using basic", auth: clientAuth{id: ClientCCPost, secret: ClientCCPostSecret}, wantStatus: 401, wantError: "invalid_client"},
		{name: "wrong secret", auth: clientAuth{id: ClientCCBasic, secret: "nope"}, wantStatus: 401, wantError: "invalid_client"},
		{name: "unknown client", auth: clientAuth{id: "nobody", secret: "x"}, wantStatus: 401, wantError: "invalid_client"},
		{name: "client without the grant", auth: clientAuth{id: ClientExchange, secret: ClientExchangeSecret}, wantStatus: 400, wantError: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := postForm(t, s.TokenURL(), tt.auth, url.Values{
				"grant_type": {"client_credentials"},
				"scope":      {"api:read"},
			})
			require.Equal(t, tt.wantStatus, status, "%v", body)
			if tt.wantError != "" {
				assert.Equal(t, tt.wantError, body["error"])
				return
			}
			assert.Equal(t, "Bearer", body["token_type"])
			assert.EqualValues(t, 2, body["expires_in"])
			assert.Equal(t, "api:read", body["scope"])
			at := str(t, body, "access_token")
			claims := unverifiedClaims(t, at)
			assert.Equal(t, s.Issuer, claims["iss"])
			assert.Equal(t, DefaultAudience, claims["aud"])
			assert.Equal(t, tt.auth.id, claims["client_id"])
			assert.Equal(t, tt.auth.id, claims["sub"])

			code, text := chat(t, gw, at)
			require.Equal(t, http.StatusOK, code, text)
			assert.Equal(t, fmt.Sprintf("Hello from the OAuth gateway, %s!", tt.auth.id), text)
			assert.Equal(t, tt.auth.id, gw.Stats().LastClientID)
		})
	}

	stats, err := s.Stats()
	require.NoError(t, err)
	assert.Equal(t, len(tests), stats["total"])
	assert.Equal(t, len(tests), stats["client_credentials"])
	assert.Equal(t, 4, stats["error:invalid_client"])

	t.Run("expired access token is rejected by the gateway", func(t *testing.T) {
		_, body := postForm(t, s.TokenURL(), clientAuth{id: ClientCCBasic, secret: ClientCCBasicSecret},
			url.Values{"grant_type": {"client_credentials"}})
		at := str(t, body, "access_token")
		code, _ := gatewayCall(t, gw, http.MethodGet, "/v1/models", at, "")
		require.Equal(t, http.StatusOK, code)
		exp := int64(unverifiedClaims(t, at)["exp"].(float64))
		time.Sleep(time.Until(time.Unix(exp+1, 0)))
		code, text := gatewayCall(t, gw, http.MethodGet, "/v1/models", at, "")
		assert.Equal(t, http.StatusUnauthorized, code)
		assert.Contains(t, text, "expired")
	})

	require.NoError(t, s.ResetStats())
	stats, err = s.Stats()
	require.NoError(t, err)
	assert.Empty(t, stats)
}

func TestGatewayRejectsForeignAndTamperedTokens(t *testing.T) {
	s := StartAuthServer(t, AuthServerOptions{})
	gw := StartGateway(t, s.Issuer, s.Audience)
	_, body := postForm(t, s.TokenURL(), clientAuth{id: ClientCCBasic, secret: ClientCCBasicSecret},
		url.Values{"grant_type": {"client_credentials"}})
	at := str(t, body, "access_token")

	tests := []struct {
		name  string
		token string
		want  int
	}{
		{name: "genuine", token: at, want: http.StatusOK},
		{name: "tampered payload", token: tamper(t, at), want: http.StatusUnauthorized},
		{name: "truncated signature", token: at[:len(at)-4], want: http.StatusUnauthorized},
		{name: "external issuer token", token: s.MintSubjectToken(t, s.Audience, "x", time.Minute), want: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, text := gatewayCall(t, gw, http.MethodGet, "/v1/models", tt.token, "")
			assert.Equal(t, tt.want, code, text)
		})
	}
	st := gw.Stats()
	assert.Equal(t, 1, st.Authorized)
	assert.Equal(t, 3, st.Unauthorized)
}

func TestAudienceOption(t *testing.T) {
	const audience = "http://127.0.0.1/custom-gateway"
	s := StartAuthServer(t, AuthServerOptions{Audience: audience, ResourceScopes: []string{"llm"}})
	assert.Equal(t, audience, s.Audience)
	gw := StartGateway(t, s.Issuer, audience)
	_, body := postForm(t, s.TokenURL(), clientAuth{id: ClientCCPost, secret: ClientCCPostSecret, post: true},
		url.Values{"grant_type": {"client_credentials"}, "scope": {"llm api:read"}})
	at := str(t, body, "access_token")
	claims := unverifiedClaims(t, at)
	assert.Equal(t, audience, claims["aud"])
	assert.Equal(t, "llm", claims["scope"])
	code, text := chat(t, gw, at)
	assert.Equal(t, http.StatusOK, code, text)
}

func TestServerStopsWithTheTest(t *testing.T) {
	var issuer string
	t.Run("inner", func(t *testing.T) {
		issuer = StartAuthServer(t, AuthServerOptions{}).Issuer
	})
	u, err := url.Parse(issuer)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return true
		}
		_ = conn.Close()
		return false
	}, 10*time.Second, 100*time.Millisecond, "the server still listens after its test ended")
}
