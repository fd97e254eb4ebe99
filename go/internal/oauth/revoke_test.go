package oauth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

const revokeCanary = "rt-CANARY-5e1f0c"

// revokeServer records revocation requests and answers with status/body.
type revokeServer struct {
	mu       sync.Mutex
	status   int
	body     string
	delay    time.Duration
	requests []*http.Request
	forms    []url.Values
	srv      *httptest.Server
}

func newRevokeServer(t *testing.T, status int, body string) *revokeServer {
	t.Helper()
	rs := &revokeServer{status: status, body: body}
	rs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(raw))
		rs.mu.Lock()
		rs.requests = append(rs.requests, r)
		rs.forms = append(rs.forms, form)
		status, body, delay := rs.status, rs.body, rs.delay
		rs.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(strings.ReplaceAll(body, "{token}", form.Get("token"))))
	}))
	t.Cleanup(rs.srv.Close)
	return rs
}

func revokeClient(t *testing.T, p config.Provider) *oauth.Client {
	t.Helper()
	c, err := oauth.New(p, oauth.Options{Log: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return c
}

func revokeProvider(rs *revokeServer, secretValue, method string) config.Provider {
	return config.Provider{
		ID: "gw", Issuer: rs.srv.URL, ClientID: "cli ent", ClientSecret: secret.New(secretValue),
		ClientAuthMethod: method, Flow: config.ClientCredentials, HTTPTimeout: 2 * time.Second,
		Endpoints: config.Endpoints{Token: rs.srv.URL + "/token", Revocation: rs.srv.URL + "/revoke"},
	}
}

func TestRevokeRequest(t *testing.T) {
	cases := []struct {
		name, secret, method, hint string
		wantBasic                  bool
		wantForm                   url.Values
	}{
		{"basic auth with hint", "s3cret", config.AuthMethodBasic, oauth.HintRefreshToken, true,
			url.Values{"token": {revokeCanary}, "token_type_hint": {"refresh_token"}}},
		{"post auth", "s3cret", config.AuthMethodPost, oauth.HintAccessToken, false,
			url.Values{"token": {revokeCanary}, "token_type_hint": {"access_token"}, "client_id": {"cli ent"}, "client_secret": {"s3cret"}}},
		{"public client, no hint", "", "", "", false,
			url.Values{"token": {revokeCanary}, "client_id": {"cli ent"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRevokeServer(t, 200, "")
			c := revokeClient(t, revokeProvider(rs, tc.secret, tc.method))
			require.NoError(t, c.Revoke(context.Background(), secret.New(revokeCanary), tc.hint))
			require.Len(t, rs.requests, 1)
			r := rs.requests[0]
			assert.Equal(t, http.MethodPost, r.Method)
			assert.Equal(t, "/revoke", r.URL.Path)
			assert.Equal(t, "application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
			user, pass, basic := r.BasicAuth()
			assert.Equal(t, tc.wantBasic, basic)
			if tc.wantBasic {
				assert.Equal(t, url.QueryEscape("cli ent"), user)
				assert.Equal(t, "s3cret", pass)
			}
			assert.Equal(t, tc.wantForm, rs.forms[0])
		})
	}
}

func TestRevokeErrors(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		is     []error
		msg    string
	}{
		{"unsupported token type", 400, `{"error":"unsupported_token_type"}`, []error{oauth.ErrUnsupportedTokenType}, "unsupported_token_type (HTTP 400)"},
		{"server busy", 503, `{"error":"temporarily_unavailable","error_description":"try {token} later"}`, []error{tokens.ErrTransient}, "HTTP 503"},
		{"bad client", 401, `{"error":"invalid_client"}`, []error{tokens.ErrInvalidClient}, "check clientId"},
		{"html error page", 500, `<html>oops {token}</html>`, []error{tokens.ErrTransient}, "HTTP 500"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRevokeServer(t, tc.status, tc.body)
			c := revokeClient(t, revokeProvider(rs, "s3cret", config.AuthMethodBasic))
			err := c.Revoke(context.Background(), secret.New(revokeCanary), oauth.HintRefreshToken)
			require.Error(t, err)
			for _, target := range tc.is {
				assert.True(t, errors.Is(err, target), "%v is %v", err, target)
			}
			var oe *oauth.Error
			assert.True(t, errors.As(err, &oe))
			assert.Contains(t, err.Error(), tc.msg)
			assert.Contains(t, err.Error(), "revocation request")
			assert.NotContains(t, err.Error(), revokeCanary, "the token never appears in an error")
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
}

func TestRevokeWithoutEndpoint(t *testing.T) {
	rs := newRevokeServer(t, 200, "")
	p := revokeProvider(rs, "s3cret", "")
	p.Endpoints.Revocation = ""
	err := revokeClient(t, p).Revoke(context.Background(), secret.New(revokeCanary), "")
	require.ErrorIs(t, err, oauth.ErrNoRevocationEndpoint)
	assert.Empty(t, rs.requests)
}

func TestRevokeHonoursContextAndTimeout(t *testing.T) {
	rs := newRevokeServer(t, 200, "")
	rs.delay = 5 * time.Second
	c := revokeClient(t, revokeProvider(rs, "s3cret", ""))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Revoke(ctx, secret.New(revokeCanary), "")
	require.Error(t, err)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.NotContains(t, err.Error(), revokeCanary)
}

func TestRevokeEmptyToken(t *testing.T) {
	rs := newRevokeServer(t, 200, "")
	err := revokeClient(t, revokeProvider(rs, "", "")).Revoke(context.Background(), secret.String{}, "")
	require.Error(t, err)
	assert.Empty(t, rs.requests)
}
