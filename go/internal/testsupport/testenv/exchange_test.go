//go:build integration

package testenv

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJWTBearer(t *testing.T) {
	s := StartAuthServer(t, AuthServerOptions{})
	gw := StartGateway(t, s.Issuer, s.Audience)
	exchange := clientAuth{id: ClientExchange, secret: ClientExchangeSecret}

	tests := []struct {
		name      string
		assertion func(t *testing.T) string
		wantError string
	}{
		{name: "audience is the issuer", assertion: func(t *testing.T) string {
			return s.MintSubjectToken(t, s.Issuer, "svc-robot", time.Minute)
		}},
		{name: "audience is the token endpoint", assertion: func(t *testing.T) string {
			return s.MintSubjectToken(t, s.TokenURL(), "svc-robot", time.Minute)
		}},
		{name: "expired", assertion: func(t *testing.T) string {
			return s.MintSubjectToken(t, s.Issuer, "svc-robot", -time.Minute)
		}, wantError: "invalid_grant"},
		{name: "wrong audience", assertion: func(t *testing.T) string {
			return s.MintSubjectToken(t, "https://elsewhere.test", "svc-robot", time.Minute)
		}, wantError: "invalid_grant"},
		{name: "tampered", assertion: func(t *testing.T) string {
			return tamper(t, s.MintSubjectToken(t, s.Issuer, "svc-robot", time.Minute))
		}, wantError: "invalid_grant"},
		{name: "signed by the server's own key, not the external issuer", assertion: func(t *testing.T) string {
			_, body := postForm(t, s.TokenURL(), clientAuth{id: ClientCCBasic, secret: ClientCCBasicSecret},
				url.Values{"grant_type": {"client_credentials"}})
			return str(t, body, "access_token")
		}, wantError: "invalid_grant"},
		{name: "missing", assertion: func(*testing.T) string { return "" }, wantError: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"grant_type": {GrantJWTBearer}, "scope": {"api:read api:write"}}
			if a := tt.assertion(t); a != "" {
				form.Set("assertion", a)
			}
			status, body := postForm(t, s.TokenURL(), exchange, form)
			if tt.wantError != "" {
				require.Equal(t, http.StatusBadRequest, status, "%v", body)
				assert.Equal(t, tt.wantError, body["error"])
				assert.NotEqual(t, "grant request is invalid", body["error_description"], "the reason is given")
				return
			}
			require.Equal(t, http.StatusOK, status, "%v", body)
			assert.Equal(t, "api:read api:write", body["scope"])
			at := str(t, body, "access_token")
			claims := unverifiedClaims(t, at)
			assert.Equal(t, "svc-robot", claims["sub"])
			assert.Equal(t, ClientExchange, claims["client_id"])
			code, text := chat(t, gw, at)
			require.Equal(t, http.StatusOK, code, text)
			assert.Equal(t, "Hello from the OAuth gateway, svc-robot!", text)
		})
	}

	t.Run("public client may not use the grant", func(t *testing.T) {
		status, body := postForm(t, s.TokenURL(), clientAuth{id: ClientCodePublic}, url.Values{
			"grant_type": {GrantJWTBearer},
			"assertion":  {s.MintSubjectToken(t, s.Issuer, "svc-robot", time.Minute)},
		})
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_request", body["error"])
	})
}

func TestTokenExchange(t *testing.T) {
	s := StartAuthServer(t, AuthServerOptions{})
	gw := StartGateway(t, s.Issuer, s.Audience)
	exchange := clientAuth{id: ClientExchange, secret: ClientExchangeSecret}
	const jwtType = "urn:ietf:params:oauth:token-type:jwt"
	const atType = "urn:ietf:params:oauth:token-type:access_token"

	tests := []struct {
		name         string
		form         func(t *testing.T) url.Values
		wantError    string
		wantAudience string
	}{
		{name: "jwt subject token", form: func(t *testing.T) url.Values {
			return url.Values{"subject_token": {s.MintSubjectToken(t, ClientExchange, "bob", time.Minute)}, "subject_token_type": {jwtType}}
		}, wantAudience: DefaultAudience},
		{name: "access_token subject token and requested type", form: func(t *testing.T) url.Values {
			return url.Values{
				"subject_token":        {s.MintSubjectToken(t, s.Issuer, "bob", time.Minute)},
				"subject_token_type":   {atType},
				"requested_token_type": {atType},
			}
		}, wantAudience: DefaultAudience},
		{name: "audience parameter selects another loopback resource", form: func(t *testing.T) url.Values {
			return url.Values{
				"subject_token":      {s.MintSubjectToken(t, s.Issuer, "bob", time.Minute)},
				"subject_token_type": {jwtType},
				"audience":           {"http://127.0.0.1:9/other"},
			}
		}, wantAudience: "http://127.0.0.1:9/other"},
		{name: "unknown audience", form: func(t *testing.T) url.Values {
			return url.Values{
				"subject_token":      {s.MintSubjectToken(t, s.Issuer, "bob", time.Minute)},
				"subject_token_type": {jwtType},
				"audience":           {"https://not-ours.example"},
			}
		}, wantError: "invalid_target"},
		{name: "unsupported subject token type", form: func(t *testing.T) url.Values {
			return url.Values{"subject_token": {s.MintSubjectToken(t, s.Issuer, "bob", time.Minute)}, "subject_token_type": {"urn:x:saml"}}
		}, wantError: "invalid_request"},
		{name: "missing subject token type", form: func(t *testing.T) url.Values {
			return url.Values{"subject_token": {s.MintSubjectToken(t, s.Issuer, "bob", time.Minute)}}
		}, wantError: "invalid_request"},
		{name: "expired subject token", form: func(t *testing.T) url.Values {
			return url.Values{"subject_token": {s.MintSubjectToken(t, s.Issuer, "bob", -time.Minute)}, "subject_token_type": {jwtType}}
		}, wantError: "invalid_grant"},
		{name: "tampered subject token", form: func(t *testing.T) url.Values {
			return url.Values{"subject_token": {tamper(t, s.MintSubjectToken(t, s.Issuer, "bob", time.Minute))}, "subject_token_type": {jwtType}}
		}, wantError: "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := tt.form(t)
			form.Set("grant_type", GrantTokenExchange)
			status, body := postForm(t, s.TokenURL(), exchange, form)
			if tt.wantError != "" {
				require.Equal(t, http.StatusBadRequest, status, "%v", body)
				assert.Equal(t, tt.wantError, body["error"])
				return
			}
			require.Equal(t, http.StatusOK, status, "%v", body)
			assert.Equal(t, atType, body["issued_token_type"])
			assert.Equal(t, "Bearer", body["token_type"])
			at := str(t, body, "access_token")
			claims := unverifiedClaims(t, at)
			assert.Equal(t, "bob", claims["sub"])
			assert.Equal(t, tt.wantAudience, claims["aud"])
			code, text := chat(t, gw, at)
			if tt.wantAudience == DefaultAudience {
				require.Equal(t, http.StatusOK, code, text)
				assert.Equal(t, "Hello from the OAuth gateway, bob!", text)
			} else {
				assert.Equal(t, http.StatusUnauthorized, code, "a token for another audience is refused")
			}
		})
	}
}
