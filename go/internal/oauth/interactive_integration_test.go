//go:build integration

package oauth_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/syncbuf"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

func userProvider(as *testenv.AuthServer, flow config.Flow, clientID string) config.Provider {
	return config.Provider{
		ID: "gw", Name: "Test Gateway", Issuer: as.Issuer, ClientID: clientID, Flow: flow,
		Scopes: []string{"openid", "offline_access", "api:read"}, PKCE: true,
		LoginTimeout: 60 * time.Second, HTTPTimeout: 10 * time.Second, ExpirySkew: 30 * time.Second,
	}
}

// personAtBrowser is the OpenBrowser hook of the integration tests: it plays
// the person with testenv's HTTP browser (sign-in form included) and delivers
// the redirect to the loopback listener, remembering what it carried so the
// test can look for it in the logs.
type personAtBrowser struct {
	t  *testing.T
	as *testenv.AuthServer

	mu       sync.Mutex
	opened   int
	callback url.Values
	statuses chan int
}

func newPerson(t *testing.T, as *testenv.AuthServer) *personAtBrowser {
	return &personAtBrowser{t: t, as: as, statuses: make(chan int, 4)}
}

func (p *personAtBrowser) open(_ context.Context, startURL string) error {
	p.mu.Lock()
	p.opened++
	p.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cb, err := p.as.CompleteAuthorization(ctx, startURL)
		if err != nil {
			p.t.Errorf("complete authorization: %v", err)
			p.statuses <- 0
			return
		}
		u, err := url.Parse(cb)
		if err != nil {
			p.t.Errorf("callback URL: %v", err)
			p.statuses <- 0
			return
		}
		p.mu.Lock()
		p.callback = u.Query()
		p.mu.Unlock()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cb, nil)
		if err != nil {
			p.statuses <- 0
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			p.t.Errorf("deliver callback: %v", err)
			p.statuses <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		p.statuses <- resp.StatusCode
	}()
	return nil
}

func (p *personAtBrowser) status(t *testing.T) int {
	t.Helper()
	select {
	case s := <-p.statuses:
		return s
	case <-time.After(60 * time.Second):
		t.Fatal("the browser did not finish")
		return 0
	}
}

func userClient(t *testing.T, p config.Provider, logs *syncbuf.Buffer, o oauth.Options) *oauth.Client {
	t.Helper()
	o.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.Stderr == nil {
		o.Stderr = logs // the prompts are checked for secrets too
	}
	c, err := oauth.New(p, o)
	require.NoError(t, err)
	return c
}

// gatewayStatus calls the gateway's model list with token.
func gatewayStatus(t *testing.T, gw *testenv.Gateway, token secret.String) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gw.URL+"/v1/models", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token.Reveal())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestAuthorizationCodeLoginAgainstRealServer(t *testing.T) {
	tests := []struct {
		name      string
		autoLogin bool
		client    string
		secret    string
	}{
		{name: "public client, auto login", autoLogin: true, client: testenv.ClientCodePublic},
		{name: "public client, login form", client: testenv.ClientCodePublic},
		{name: "confidential client, login form", client: testenv.ClientCodeConfidential, secret: testenv.ClientCodeConfidentialSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: tt.autoLogin})
			gw := testenv.StartGateway(t, as.Issuer, as.Audience)
			p := userProvider(as, config.AuthorizationCode, tt.client)
			p.ClientSecret = secret.New(tt.secret)
			person := newPerson(t, as)
			logs := &syncbuf.Buffer{}
			var prompts []oauth.Prompt
			c := userClient(t, p, logs, oauth.Options{OpenBrowser: person.open, Prompt: func(pr oauth.Prompt) { prompts = append(prompts, pr) }})

			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			tok, err := c.Acquire(ctx)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, person.status(t))
			assert.False(t, tok.RefreshToken.IsZero())
			assert.False(t, tok.IDToken.IsZero(), "the verified id_token is kept")
			assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, tok.AccessToken))
			require.Len(t, prompts, 1)
			assert.Equal(t, oauth.PromptBrowser, prompts[0].Kind)

			cb := person.callback
			require.NotEmpty(t, cb.Get("code"))
			assert.Equal(t, as.Issuer, cb.Get("iss"), "the server sends RFC 9207 iss, which was checked")
			for _, s := range []string{cb.Get("code"), cb.Get("state"), tok.AccessToken.Reveal(), tok.RefreshToken.Reveal(), tok.IDToken.Reveal()} {
				assert.NotContains(t, logs.String(), s)
			}
			if tt.secret != "" {
				assert.NotContains(t, logs.String(), tt.secret)
			}
		})
	}
}

// abortAtLoginPage plays a person who presses Cancel on the server's login
// page; the server then redirects to the loopback listener with
// error=access_denied. It returns the listener's status.
func abortAtLoginPage(ctx context.Context, startURL string) (int, error) {
	start, err := url.Parse(startURL)
	if err != nil {
		return 0, err
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return 0, err
	}
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if r.URL.Host == start.Host && len(via) > 1 {
			return http.ErrUseLastResponse // back at the loopback listener: deliver it ourselves
		}
		return nil
	}}
	get := func(method, u string) (*http.Response, string, error) {
		req, err := http.NewRequestWithContext(ctx, method, u, nil)
		if err != nil {
			return nil, "", err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp, string(b), err
	}
	resp, body, err := get(http.MethodGet, startURL)
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`action="(/interaction/[^"]+/abort)"`).FindStringSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("no cancel button on %s", resp.Request.URL)
	}
	resp, _, err = get(http.MethodPost, resp.Request.URL.Scheme+"://"+resp.Request.URL.Host+m[1])
	if err != nil {
		return 0, err
	}
	loc := resp.Header.Get("Location")
	if !strings.Contains(loc, "error=access_denied") {
		return 0, fmt.Errorf("expected an access_denied redirect, got %d %q", resp.StatusCode, loc)
	}
	resp, _, err = get(http.MethodGet, loc)
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

func TestAuthorizationCodeErrorsAgainstRealServer(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{})
	t.Run("the person cancels at the login page", func(t *testing.T) {
		p := userProvider(as, config.AuthorizationCode, testenv.ClientCodePublic)
		type result struct {
			status int
			err    error
		}
		done := make(chan result, 1)
		c := userClient(t, p, &syncbuf.Buffer{}, oauth.Options{OpenBrowser: func(_ context.Context, u string) error {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				status, err := abortAtLoginPage(ctx, u)
				done <- result{status, err}
			}()
			return nil
		}})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := c.Acquire(ctx)
		require.ErrorContains(t, err, "access_denied")
		assert.ErrorIs(t, err, tokens.ErrLoginRequired)
		r := <-done
		require.NoError(t, r.err)
		assert.Equal(t, http.StatusBadRequest, r.status, "the failure page")
	})
	t.Run("an error page of the server leaves the login waiting until its timeout", func(t *testing.T) {
		p := userProvider(as, config.AuthorizationCode, "no-such-client")
		p.LoginTimeout = 2 * time.Second
		c := userClient(t, p, &syncbuf.Buffer{}, oauth.Options{OpenBrowser: func(_ context.Context, u string) error {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_, _ = as.BrowseAuthorization(ctx, u)
			}()
			return nil
		}})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := c.Acquire(ctx)
		require.ErrorContains(t, err, "no login was completed")
		assert.ErrorIs(t, err, tokens.ErrLoginRequired)
	})
}

func TestDeviceLoginAgainstRealServer(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{DeviceInterval: time.Second, DeviceCodeTTL: time.Minute})
	gw := testenv.StartGateway(t, as.Issuer, as.Audience)
	tests := []struct {
		name    string
		answer  func(ctx context.Context, userCode string) error
		wantErr string
	}{
		{name: "approved while polling", answer: as.ApproveDevice},
		{name: "denied", answer: as.DenyDevice, wantErr: "denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, as.ResetStats())
			logs := &syncbuf.Buffer{}
			answered := make(chan error, 1)
			var prompts []oauth.Prompt
			c := userClient(t, userProvider(as, config.DeviceCode, testenv.ClientDevicePublic), logs, oauth.Options{
				OpenBrowser: func(context.Context, string) error { t.Error("the device flow opened a browser"); return nil },
				Prompt: func(pr oauth.Prompt) {
					prompts = append(prompts, pr)
					go func() {
						time.Sleep(1500 * time.Millisecond) // let the client poll while it waits
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						defer cancel()
						answered <- tt.answer(ctx, pr.UserCode)
					}()
				},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			tok, err := c.Acquire(ctx)
			require.NoError(t, <-answered)
			require.Len(t, prompts, 1)
			assert.Equal(t, oauth.PromptDeviceCode, prompts[0].Kind)
			assert.NotEmpty(t, prompts[0].UserCode)
			assert.True(t, strings.HasPrefix(prompts[0].URL, as.DeviceVerificationURL()), prompts[0].URL)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.ErrorIs(t, err, tokens.ErrLoginRequired)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, tok.AccessToken))
			assert.False(t, tok.RefreshToken.IsZero())
			assert.False(t, tok.IDToken.IsZero())
			stats, err := as.Stats()
			require.NoError(t, err)
			assert.GreaterOrEqual(t, stats[testenv.GrantDeviceCode], 2, "it polled while pending")
			assert.Zero(t, stats["error:slow_down"], "it kept to the interval")
			for _, s := range []string{tok.AccessToken.Reveal(), tok.RefreshToken.Reveal(), tok.IDToken.Reveal()} {
				assert.NotContains(t, logs.String(), s)
			}
		})
	}
}

// TestRefreshAndRotationAgainstRealServer: a 5 s access token is refreshed
// by the manager without a second login, the refresh token rotates, and the
// rotated-out refresh token is refused as invalid_grant.
func TestRefreshAndRotationAgainstRealServer(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true, AccessTokenTTL: 5 * time.Second})
	gw := testenv.StartGateway(t, as.Issuer, as.Audience)
	p := userProvider(as, config.AuthorizationCode, testenv.ClientCodePublic)
	person := newPerson(t, as)
	c := userClient(t, p, &syncbuf.Buffer{}, oauth.Options{OpenBrowser: person.open})
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
	assert.Equal(t, http.StatusOK, person.status(t))
	assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, first.AccessToken))

	time.Sleep(time.Until(first.ExpiresAt) + 200*time.Millisecond)
	assert.Equal(t, http.StatusUnauthorized, gatewayStatus(t, gw, first.AccessToken), "the first token expired")

	second, err := m.Token(ctx, tokens.NoLogin)
	require.NoError(t, err)
	assert.False(t, second.AccessToken.Equal(first.AccessToken))
	assert.False(t, second.RefreshToken.Equal(first.RefreshToken), "the refresh token rotated")
	assert.False(t, second.IDToken.IsZero())
	assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, second.AccessToken))
	person.mu.Lock()
	assert.Equal(t, 1, person.opened, "refreshing never opens a browser")
	person.mu.Unlock()

	_, err = c.Refresh(ctx, first)
	require.Error(t, err)
	assert.ErrorIs(t, err, tokens.ErrInvalidGrant, "reusing a rotated-out refresh token")
	assert.NotContains(t, fmt.Sprintf("%v", err), first.RefreshToken.Reveal())
}
