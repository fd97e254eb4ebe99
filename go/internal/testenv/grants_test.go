package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
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

// authorize runs the front channel of an authorization-code flow for client and
// returns the code, checking state and the RFC 9207 iss parameter.
func authorize(t *testing.T, s *AuthServer, clientID, challenge, nonce string) (code, redirectURI string) {
	t.Helper()
	return authorizeScope(t, s, clientID, challenge, nonce, "openid offline_access profile api:read")
}

func authorizeScope(t *testing.T, s *AuthServer, clientID, challenge, nonce, scope string) (code, redirectURI string) {
	t.Helper()
	redirectURI = fmt.Sprintf("http://127.0.0.1:%d%s", freePort(t), CallbackPath)
	state := randomString(t)
	q := url.Values{
		"client_id":             {clientID},
		"response_type":         {"code"},
		"redirect_uri":          {redirectURI},
		"scope":                 {scope},
		"state":                 {state},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
	if nonce != "" {
		q.Set("nonce", nonce)
	}
	cb, err := s.CompleteAuthorization(testCtx(t), s.AuthorizationURL()+"?"+q.Encode())
	require.NoError(t, err)
	u, err := url.Parse(cb)
	require.NoError(t, err)
	require.Equal(t, redirectURI, u.Scheme+"://"+u.Host+u.Path)
	params := u.Query()
	require.Empty(t, params.Get("error"), "callback %s", cb)
	assert.Equal(t, state, params.Get("state"))
	assert.Equal(t, s.Issuer, params.Get("iss"), "RFC 9207 iss parameter")
	code = params.Get("code")
	require.NotEmpty(t, code)
	return code, redirectURI
}

// freePort returns a port nothing listens on (the callback is never followed).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

func verifyIDToken(t *testing.T, s *AuthServer, raw, clientID, nonce string) map[string]any {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, s.JWKSURL(), nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	var set jose.JSONWebKeySet
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&set))

	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	keys := set.Key(tok.Headers[0].KeyID)
	require.Len(t, keys, 1)
	var std jwt.Claims
	extra := map[string]any{}
	require.NoError(t, tok.Claims(keys[0].Public(), &std, &extra))
	require.NoError(t, std.Validate(jwt.Expected{Issuer: s.Issuer, AnyAudience: jwt.Audience{clientID}}))
	assert.Equal(t, nonce, extra["nonce"])
	return extra
}

func TestAuthorizationCodePKCE(t *testing.T) {
	tests := []struct {
		name   string
		opts   AuthServerOptions
		client clientAuth
		user   string
	}{
		{name: "public client, auto login", opts: AuthServerOptions{AutoLogin: true}, client: clientAuth{id: ClientCodePublic}, user: DemoUser},
		{name: "public client, login form", client: clientAuth{id: ClientCodePublic}, user: "carol"},
		{name: "confidential client, login form", client: clientAuth{id: ClientCodeConfidential, secret: ClientCodeConfidentialSecret}, user: DemoUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := StartAuthServer(t, tt.opts)
			s.Username = tt.user
			gw := StartGateway(t, s.Issuer, s.Audience)
			verifier, challenge := pkcePair(t)
			nonce := randomString(t)
			code, redirectURI := authorize(t, s, tt.client.id, challenge, nonce)

			status, body := postForm(t, s.TokenURL(), tt.client, url.Values{
				"grant_type":    {"authorization_code"},
				"code":          {code},
				"redirect_uri":  {redirectURI},
				"code_verifier": {verifier},
			})
			require.Equal(t, http.StatusOK, status, "%v", body)
			at, rt := str(t, body, "access_token"), str(t, body, "refresh_token")
			idClaims := verifyIDToken(t, s, str(t, body, "id_token"), tt.client.id, nonce)
			if !tt.opts.AutoLogin {
				assert.Equal(t, tt.user, idClaims["sub"])
			}
			claims := unverifiedClaims(t, at)
			assert.Equal(t, tt.user, claims["sub"])
			assert.Equal(t, "api:read", claims["scope"])
			code2, text := chat(t, gw, at)
			require.Equal(t, http.StatusOK, code2, text)
			assert.Equal(t, fmt.Sprintf("Hello from the OAuth gateway, %s!", tt.user), text)

			// Refresh: a new JWT access token and a rotated refresh token.
			status, body = postForm(t, s.TokenURL(), tt.client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
			require.Equal(t, http.StatusOK, status, "%v", body)
			at2, rt2 := str(t, body, "access_token"), str(t, body, "refresh_token")
			assert.NotEqual(t, rt, rt2, "refresh token rotated")
			assert.Equal(t, tt.user, unverifiedClaims(t, at2)["sub"])
			code2, text = chat(t, gw, at2)
			require.Equal(t, http.StatusOK, code2, text)

			// Reusing the rotated-out refresh token fails and revokes the grant.
			status, body = postForm(t, s.TokenURL(), tt.client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "invalid_grant", body["error"])
			status, body = postForm(t, s.TokenURL(), tt.client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}})
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "invalid_grant", body["error"], "the whole grant is revoked after reuse")

			// The code is single use.
			status, body = postForm(t, s.TokenURL(), tt.client, url.Values{
				"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier},
			})
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "invalid_grant", body["error"])
		})
	}
}

func TestAuthorizationCodeErrors(t *testing.T) {
	s := StartAuthServer(t, AuthServerOptions{AutoLogin: true})
	ctx := testCtx(t)
	redirectURI := fmt.Sprintf("http://127.0.0.1:%d%s", freePort(t), CallbackPath)
	base := func() url.Values {
		_, challenge := pkcePair(t)
		return url.Values{
			"client_id": {ClientCodePublic}, "response_type": {"code"}, "redirect_uri": {redirectURI},
			"scope": {"openid"}, "state": {"s1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
		}
	}

	t.Run("missing PKCE is an error redirect", func(t *testing.T) {
		q := base()
		q.Del("code_challenge")
		q.Del("code_challenge_method")
		cb, err := s.CompleteAuthorization(ctx, s.AuthorizationURL()+"?"+q.Encode())
		require.NoError(t, err)
		u, err := url.Parse(cb)
		require.NoError(t, err)
		assert.Equal(t, "invalid_request", u.Query().Get("error"))
		assert.Equal(t, "s1", u.Query().Get("state"))
		assert.Equal(t, s.Issuer, u.Query().Get("iss"))
	})

	t.Run("unregistered redirect path is an error page", func(t *testing.T) {
		q := base()
		q.Set("redirect_uri", "http://127.0.0.1:1234/elsewhere")
		_, err := s.CompleteAuthorization(ctx, s.AuthorizationURL()+"?"+q.Encode())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "redirect_uri")
	})

	t.Run("any loopback port is accepted", func(t *testing.T) {
		for _, host := range []string{"127.0.0.1:1", "127.0.0.1:65535", "localhost:8080", "[::1]:9"} {
			q := base()
			q.Set("redirect_uri", "http://"+host+CallbackPath)
			cb, err := s.CompleteAuthorization(ctx, s.AuthorizationURL()+"?"+q.Encode())
			require.NoError(t, err, host)
			assert.True(t, strings.HasPrefix(cb, "http://"+host+CallbackPath+"?"), cb)
		}
	})

	t.Run("wrong code verifier", func(t *testing.T) {
		_, challenge := pkcePair(t)
		code, redirect := authorize(t, s, ClientCodePublic, challenge, "n")
		other, _ := pkcePair(t)
		status, body := postForm(t, s.TokenURL(), clientAuth{id: ClientCodePublic}, url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {other},
		})
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_grant", body["error"])
	})

	t.Run("without resource scopes the access token is still a gateway JWT", func(t *testing.T) {
		verifier, challenge := pkcePair(t)
		code, redirect := authorizeScope(t, s, ClientCodePublic, challenge, "", "openid unknown-scope")
		status, body := postForm(t, s.TokenURL(), clientAuth{id: ClientCodePublic}, url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier},
		})
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.NotEmpty(t, body["refresh_token"], "refresh tokens do not depend on offline_access")
		claims := unverifiedClaims(t, str(t, body, "access_token"))
		assert.Equal(t, DefaultAudience, claims["aud"])
		assert.Nil(t, claims["scope"])
	})

	t.Run("no scope requested gets the default scopes", func(t *testing.T) {
		verifier, challenge := pkcePair(t)
		code, redirect := authorizeScope(t, s, ClientCodePublic, challenge, "", "")
		status, body := postForm(t, s.TokenURL(), clientAuth{id: ClientCodePublic}, url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier},
		})
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Nil(t, body["id_token"], "no openid scope, no id_token")
		assert.Equal(t, "api:read api:write", unverifiedClaims(t, str(t, body, "access_token"))["scope"])
	})

	t.Run("login form: wrong password, cancel", func(t *testing.T) {
		s2 := StartAuthServer(t, AuthServerOptions{})
		s2.Password = "wrong"
		_, err := s2.CompleteAuthorization(ctx, s2.AuthorizationURL()+"?"+base().Encode())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "rejected")

		b, err := s2.newBrowser()
		require.NoError(t, err)
		p, err := b.get(ctx, s2.AuthorizationURL()+"?"+base().Encode())
		require.NoError(t, err)
		abort := p.form("abort-form")
		require.NotNil(t, abort, p.describe())
		p, err = b.submit(ctx, p, abort)
		require.NoError(t, err)
		u, err := url.Parse(p.location)
		require.NoError(t, err, p.describe())
		assert.Equal(t, "access_denied", u.Query().Get("error"))
		assert.Equal(t, s2.Issuer, u.Query().Get("iss"))
	})
}

type deviceStart struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

func startDevice(t *testing.T, s *AuthServer) deviceStart {
	t.Helper()
	status, body := postForm(t, s.DeviceAuthorizationURL(), clientAuth{id: ClientDevicePublic}, url.Values{
		"scope": {"openid offline_access api:read"},
	})
	require.Equal(t, http.StatusOK, status, "%v", body)
	b, err := json.Marshal(body)
	require.NoError(t, err)
	var d deviceStart
	require.NoError(t, json.Unmarshal(b, &d))
	require.NotEmpty(t, d.DeviceCode)
	require.NotEmpty(t, d.UserCode)
	return d
}

func pollDevice(t *testing.T, s *AuthServer, deviceCode string) (int, map[string]any) {
	t.Helper()
	return postForm(t, s.TokenURL(), clientAuth{id: ClientDevicePublic}, url.Values{
		"grant_type":  {GrantDeviceCode},
		"device_code": {deviceCode},
	})
}

func TestDeviceFlow(t *testing.T) {
	for _, autoLogin := range []bool{true, false} {
		t.Run(fmt.Sprintf("approve, auto login %v", autoLogin), func(t *testing.T) {
			s := StartAuthServer(t, AuthServerOptions{AutoLogin: autoLogin, DeviceInterval: time.Second, DeviceCodeTTL: time.Minute})
			gw := StartGateway(t, s.Issuer, s.Audience)
			d := startDevice(t, s)
			assert.Equal(t, 1, d.Interval)
			assert.Equal(t, 60, d.ExpiresIn)
			assert.Equal(t, s.DeviceVerificationURL(), d.VerificationURI)

			status, body := pollDevice(t, s, d.DeviceCode)
			require.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "authorization_pending", body["error"])

			require.NoError(t, s.ApproveDevice(testCtx(t), d.UserCode))
			time.Sleep(time.Duration(d.Interval) * time.Second)

			status, body = pollDevice(t, s, d.DeviceCode)
			require.Equal(t, http.StatusOK, status, "%v", body)
			at, rt := str(t, body, "access_token"), str(t, body, "refresh_token")
			assert.Equal(t, DemoUser, unverifiedClaims(t, at)["sub"])
			code, text := chat(t, gw, at)
			require.Equal(t, http.StatusOK, code, text)
			assert.Equal(t, "Hello from the OAuth gateway, alice!", text)

			status, body = postForm(t, s.TokenURL(), clientAuth{id: ClientDevicePublic}, url.Values{
				"grant_type": {"refresh_token"}, "refresh_token": {rt},
			})
			require.Equal(t, http.StatusOK, status, "%v", body)
			code, text = chat(t, gw, str(t, body, "access_token"))
			require.Equal(t, http.StatusOK, code, text)

			// The device code is single use, and the user code cannot be approved twice.
			time.Sleep(time.Duration(d.Interval) * time.Second)
			status, body = pollDevice(t, s, d.DeviceCode)
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "invalid_grant", body["error"])
			assert.Error(t, s.ApproveDevice(testCtx(t), d.UserCode))

			stats, err := s.Stats()
			require.NoError(t, err)
			assert.Equal(t, 1, stats["endpoint:device_authorization"])
			assert.Equal(t, 3, stats[GrantDeviceCode])
			assert.Zero(t, stats["error:slow_down"])
		})
	}

	t.Run("slow_down, deny, unknown code", func(t *testing.T) {
		s := StartAuthServer(t, AuthServerOptions{AutoLogin: true, DeviceInterval: time.Second})

		d := startDevice(t, s)
		status, body := pollDevice(t, s, d.DeviceCode)
		require.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "authorization_pending", body["error"])
		status, body = pollDevice(t, s, d.DeviceCode)
		require.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "slow_down", body["error"], "polling faster than the interval")
		// The interval grew by 5 s: waiting the original interval is still too fast.
		time.Sleep(1100 * time.Millisecond)
		_, body = pollDevice(t, s, d.DeviceCode)
		assert.Equal(t, "slow_down", body["error"])
		stats, err := s.Stats()
		require.NoError(t, err)
		assert.Equal(t, 2, stats["error:slow_down"])

		// An approved code is delivered even to a client that polls too fast: tokens
		// are never thrown away for a slow_down.
		require.NoError(t, s.ApproveDevice(testCtx(t), d.UserCode))
		status, body = pollDevice(t, s, d.DeviceCode)
		require.Equal(t, http.StatusOK, status, "%v", body)

		denied := startDevice(t, s)
		require.NoError(t, s.DenyDevice(testCtx(t), denied.UserCode))
		status, body = pollDevice(t, s, denied.DeviceCode)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "access_denied", body["error"])

		err = s.ApproveDevice(testCtx(t), "BCDF-GHJK")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not accepted")
	})

	t.Run("no scope requested gets the default scopes", func(t *testing.T) {
		s := StartAuthServer(t, AuthServerOptions{DeviceInterval: time.Second})
		status, body := postForm(t, s.DeviceAuthorizationURL(), clientAuth{id: ClientDevicePublic}, url.Values{})
		require.Equal(t, http.StatusOK, status, "%v", body)
		require.NoError(t, s.ApproveDevice(testCtx(t), str(t, body, "user_code")))
		status, body = pollDevice(t, s, str(t, body, "device_code"))
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Equal(t, "api:read api:write", unverifiedClaims(t, str(t, body, "access_token"))["scope"])
	})

	t.Run("expired device code", func(t *testing.T) {
		s := StartAuthServer(t, AuthServerOptions{AutoLogin: true, DeviceInterval: time.Second, DeviceCodeTTL: time.Second})
		d := startDevice(t, s)
		time.Sleep(2 * time.Second)
		status, body := pollDevice(t, s, d.DeviceCode)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "expired_token", body["error"])
	})
}

func TestRevocationAndIntrospection(t *testing.T) {
	s := StartAuthServer(t, AuthServerOptions{AutoLogin: true})
	client := clientAuth{id: ClientCodeConfidential, secret: ClientCodeConfidentialSecret}
	verifier, challenge := pkcePair(t)
	code, redirectURI := authorize(t, s, client.id, challenge, "n")
	_, body := postForm(t, s.TokenURL(), client, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier},
	})
	rt := str(t, body, "refresh_token")

	status, body := postForm(t, s.IntrospectionURL(), client, url.Values{"token": {rt}})
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, true, body["active"])
	assert.Equal(t, DemoUser, body["sub"])

	status, _ = postForm(t, s.RevocationURL(), client, url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}})
	require.Equal(t, http.StatusOK, status)

	_, body = postForm(t, s.IntrospectionURL(), client, url.Values{"token": {rt}})
	assert.Equal(t, false, body["active"])
	status, body = postForm(t, s.TokenURL(), client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"])

	stats, err := s.Stats()
	require.NoError(t, err)
	assert.Equal(t, 2, stats["endpoint:introspection"])
	assert.Equal(t, 1, stats["endpoint:revocation"])
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
