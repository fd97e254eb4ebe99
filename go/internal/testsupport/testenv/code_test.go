//go:build integration

package testenv

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

func TestBrowseAuthorizationDeliversTheCallback(t *testing.T) {
	s := StartAuthServer(t, AuthServerOptions{})
	got := make(chan url.Values, 1)
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != CallbackPath {
			http.NotFound(w, r)
			return
		}
		got <- r.URL.Query()
		_, _ = io.WriteString(w, "signed in")
	}))
	t.Cleanup(listener.Close)

	_, challenge := pkcePair(t)
	q := url.Values{
		"client_id": {ClientCodePublic}, "response_type": {"code"}, "redirect_uri": {listener.URL + CallbackPath},
		"scope": {"openid"}, "state": {"xyz"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	status, err := s.BrowseAuthorization(testCtx(t), s.AuthorizationURL()+"?"+q.Encode())
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	select {
	case params := <-got:
		assert.Equal(t, "xyz", params.Get("state"))
		assert.NotEmpty(t, params.Get("code"))
	case <-time.After(5 * time.Second):
		t.Fatal("the listener got no callback")
	}
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
