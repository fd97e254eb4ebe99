package oauth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/syncbuf"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

const (
	deviceEndpoint = "https://idp.test/device"
	tokenEndpoint  = "https://idp.test/token"
	canaryDevice   = "canary-device-code-5e2d0"
)

// reply is one scripted answer of the fake token endpoint; err simulates a
// transport failure (no answer at all).
type reply struct {
	status int
	body   string
	err    error
}

func pending() reply  { return reply{status: 400, body: `{"error":"authorization_pending"}`} }
func slowDown() reply { return reply{status: 400, body: `{"error":"slow_down"}`} }
func granted() reply {
	return reply{status: 200, body: `{"access_token":"` + canaryAT + `","token_type":"bearer","expires_in":"60","refresh_token":"` + canaryRT + `"}`}
}

// script is an http.RoundTripper answering the device endpoint once and
// the token endpoint from its replies, recording the forms it received.
type script struct {
	mu         sync.Mutex
	device     reply
	replies    []reply
	deviceForm url.Values
	tokenForms []url.Values
	unscripted int
}

func (s *script) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(b))
	s.mu.Lock()
	defer s.mu.Unlock()
	var rep reply
	switch r.URL.String() {
	case deviceEndpoint:
		s.deviceForm = form
		rep = s.device
	case tokenEndpoint:
		s.tokenForms = append(s.tokenForms, form)
		if len(s.replies) == 0 {
			s.unscripted++
			rep = pending()
		} else {
			rep, s.replies = s.replies[0], s.replies[1:]
		}
	default:
		return nil, errors.New("unexpected URL " + r.URL.String())
	}
	if rep.err != nil {
		return nil, rep.err
	}
	return &http.Response{
		StatusCode: rep.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(rep.body)), Request: r,
	}, nil
}

// fakeClock is a clock that only the injected sleep advances.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func deviceProvider() config.Provider {
	return config.Provider{
		ID: "acme", Issuer: "https://idp.test", ClientID: testClient, Flow: config.DeviceCode,
		Scopes: []string{"offline_access", "api:read"}, PKCE: true, LoginTimeout: 5 * time.Minute,
		Endpoints: config.Endpoints{Token: tokenEndpoint, DeviceAuthorization: deviceEndpoint},
	}
}

const deviceBody = `{"device_code":"` + canaryDevice + `","user_code":"WDJB-MJHT","verification_uri":"https://idp.test/activate",` +
	`"verification_uri_complete":"https://idp.test/activate?user_code=WDJB-MJHT","expires_in":600,"interval":5}`

type deviceEnv struct {
	client  *Client
	script  *script
	clock   *fakeClock
	prompts []Prompt
	stderr  *syncbuf.Buffer
	logs    *syncbuf.Buffer
}

func newDeviceEnv(t *testing.T, p config.Provider, device string, replies ...reply) *deviceEnv {
	t.Helper()
	log, logs := debugLogger()
	env := &deviceEnv{
		script: &script{device: reply{status: 200, body: device}, replies: replies},
		clock:  &fakeClock{now: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)},
		stderr: &syncbuf.Buffer{}, logs: logs,
	}
	c, err := New(p, Options{
		Log: log, HTTPClient: &http.Client{Transport: env.script}, Now: env.clock.Now, Sleep: env.clock.Sleep,
		Stderr: env.stderr, Prompt: func(pr Prompt) { env.prompts = append(env.prompts, pr) },
		OpenBrowser: func(context.Context, string) error { t.Error("the device flow opened a browser"); return nil },
	})
	require.NoError(t, err)
	env.client = c
	return env
}

func secs(s ...int) []time.Duration {
	out := make([]time.Duration, len(s))
	for i, v := range s {
		out[i] = time.Duration(v) * time.Second
	}
	return out
}

func TestDeviceFlowPolling(t *testing.T) {
	netErr := &url.Error{Op: "Post", URL: tokenEndpoint, Err: errors.New("connection refused")}
	withBody := func(interval, expires string) string {
		return `{"device_code":"` + canaryDevice + `","user_code":"WDJB-MJHT","verification_uri":"https://idp.test/activate",` +
			`"expires_in":` + expires + `,"interval":` + interval + `}`
	}
	tests := []struct {
		name       string
		device     string
		replies    []reply
		wantSleeps []time.Duration
		wantErr    string
		wantErrIs  error
	}{
		{name: "pending then granted", replies: []reply{pending(), pending(), granted()}, wantSleeps: secs(5, 5, 5)},
		{name: "slow_down adds 5 s each time", replies: []reply{slowDown(), pending(), slowDown(), granted()}, wantSleeps: secs(5, 10, 10, 15)},
		{name: "slow_down is bounded at 60 s", device: withBody("55", "3600"),
			replies: []reply{slowDown(), slowDown(), slowDown(), granted()}, wantSleeps: secs(55, 60, 60, 60)},
		{name: "5xx backs off exponentially and goes on",
			replies:    []reply{{status: 503, body: "<html>busy</html>"}, {status: 502}, {status: 500}, {status: 500}, pending(), granted()},
			wantSleeps: secs(5, 10, 20, 40, 60, 5)},
		{name: "network error then success", replies: []reply{{err: netErr}, {err: netErr}, granted()}, wantSleeps: secs(5, 10, 20)},
		{name: "errors sent with status 200 (GitHub)", replies: []reply{{status: 200, body: `{"error":"authorization_pending"}`},
			{status: 200, body: `{"error":"slow_down","interval":10}`}, granted()}, wantSleeps: secs(5, 5, 10)},
		{name: "429 is transient", replies: []reply{{status: 429, body: `{"error":"rate_limited"}`}, granted()}, wantSleeps: secs(5, 10)},
		{name: "expired_token", replies: []reply{pending(), {status: 400, body: `{"error":"expired_token"}`}},
			wantSleeps: secs(5, 5), wantErr: "device code expired", wantErrIs: tokens.ErrLoginRequired},
		{name: "access_denied", replies: []reply{pending(), {status: 400, body: `{"error":"access_denied"}`}},
			wantSleeps: secs(5, 5), wantErr: "denied", wantErrIs: tokens.ErrLoginRequired},
		{name: "invalid_client ends the flow", replies: []reply{{status: 401, body: `{"error":"invalid_client"}`}},
			wantSleeps: secs(5), wantErr: "invalid_client", wantErrIs: tokens.ErrInvalidClient},
		{name: "code expires while pending", device: withBody("5", "12"), wantSleeps: secs(5, 5, 2),
			wantErr: "device code expired", wantErrIs: tokens.ErrLoginRequired},
		{name: "transient errors until expiry", device: withBody("5", "30"),
			replies: []reply{{err: netErr}, {err: netErr}, {err: netErr}}, wantSleeps: secs(5, 10, 15),
			wantErr: "device code expired"},
		{name: "fractional interval rounds up", device: withBody("2.2", "600"), replies: []reply{granted()}, wantSleeps: secs(3)},
		{name: "interval as string", device: withBody(`"7"`, `"600"`), replies: []reply{granted()}, wantSleeps: secs(7)},
		{name: "no interval means 5 s", device: `{"device_code":"d1234","user_code":"AB","verification_uri":"https://idp.test/a","expires_in":600}`,
			replies: []reply{granted()}, wantSleeps: secs(5)},
		{name: "no refresh token is refused", replies: []reply{{status: 200, body: `{"access_token":"x","token_type":"Bearer"}`}},
			wantSleeps: secs(5), wantErr: "offline_access"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			device := tt.device
			if device == "" {
				device = deviceBody
			}
			env := newDeviceEnv(t, deviceProvider(), device, tt.replies...)
			tok, err := env.client.Acquire(testCtx(t))
			assert.Equal(t, tt.wantSleeps, env.clock.sleeps)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				if tt.wantErrIs != nil {
					assert.ErrorIs(t, err, tt.wantErrIs)
				}
				assert.NotContains(t, err.Error(), canaryDevice)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, canaryAT, tok.AccessToken.Reveal())
			assert.Equal(t, canaryRT, tok.RefreshToken.Reveal())
			assert.Equal(t, env.clock.Now().Add(time.Minute), tok.ExpiresAt, "expires_in as a string is understood")
			assert.Zero(t, env.script.unscripted)
		})
	}
}

func TestDeviceFlowRequestsAndPrompt(t *testing.T) {
	env := newDeviceEnv(t, deviceProvider(), deviceBody, granted())
	_, err := env.client.Acquire(testCtx(t))
	require.NoError(t, err)

	df := env.script.deviceForm
	assert.Equal(t, testClient, df.Get("client_id"))
	assert.Equal(t, "offline_access api:read", df.Get("scope"))
	assert.Equal(t, "S256", df.Get("code_challenge_method"))
	require.Len(t, env.script.tokenForms, 1)
	tf := env.script.tokenForms[0]
	assert.Equal(t, GrantDeviceCode, tf.Get("grant_type"))
	assert.Equal(t, canaryDevice, tf.Get("device_code"))
	assert.Equal(t, df.Get("code_challenge"), s256Plain(tf.Get("code_verifier")))

	require.Len(t, env.prompts, 1)
	p := env.prompts[0]
	assert.Equal(t, Prompt{
		ProviderID: "acme", Kind: PromptDeviceCode, UserCode: "WDJB-MJHT",
		URL:       "https://idp.test/activate?user_code=WDJB-MJHT",
		Message:   "To log in to acme, visit this URL and check that it shows this code:",
		ExpiresAt: time.Date(2030, 1, 1, 12, 10, 0, 0, time.UTC),
	}, p)
	assert.Contains(t, p.Text(), "https://idp.test/activate?user_code=WDJB-MJHT")
	assert.Contains(t, p.Text(), "code: WDJB-MJHT")
	assert.Empty(t, env.stderr.String(), "with a Prompt callback, the callback shows it (once)")
	assert.NotContains(t, p.Text()+env.logs.String(), canaryDevice)
}

func TestDeviceFlowWithoutPKCE(t *testing.T) {
	p := deviceProvider()
	p.PKCE = false
	env := newDeviceEnv(t, p, deviceBody, granted())
	_, err := env.client.Acquire(testCtx(t))
	require.NoError(t, err)
	assert.Empty(t, env.script.deviceForm.Get("code_challenge"))
	assert.Empty(t, env.script.tokenForms[0].Get("code_verifier"))
}

func TestDeviceAuthorizationResponses(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr string
		wantURL string
	}{
		{name: "no device_code", status: 200, body: `{"user_code":"A","verification_uri":"https://x.test/"}`, wantErr: "no device_code"},
		{name: "no user_code", status: 200, body: `{"device_code":"d","verification_uri":"https://x.test/"}`, wantErr: "no usable user_code"},
		{name: "escape sequence in user_code", status: 200, body: `{"device_code":"d","user_code":"A\u001b[2J","verification_uri":"https://x.test/"}`, wantErr: "no usable user_code"},
		{name: "javascript URI", status: 200, body: `{"device_code":"d","user_code":"A","verification_uri":"javascript:alert(1)"}`, wantErr: "no usable verification_uri"},
		{name: "not JSON", status: 200, body: `<html>`, wantErr: "not a JSON object"},
		{name: "bad complete URI falls back", status: 200, wantURL: "https://x.test/",
			body: `{"device_code":"d","user_code":"A","verification_uri":"https://x.test/","verification_uri_complete":"file:///x","expires_in":60}`},
		{name: "legacy verification_url", status: 200, wantURL: "https://x.test/legacy",
			body: `{"device_code":"d","user_code":"A","verification_url":"https://x.test/legacy","expires_in":60}`},
		{name: "server error", status: 400, body: `{"error":"invalid_scope"}`, wantErr: "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newDeviceEnv(t, deviceProvider(), "", granted())
			env.script.device = reply{status: tt.status, body: tt.body}
			_, err := env.client.Acquire(testCtx(t))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Empty(t, env.prompts)
				return
			}
			require.NoError(t, err)
			require.Len(t, env.prompts, 1)
			assert.Equal(t, tt.wantURL, env.prompts[0].URL)
		})
	}
}

func TestDeviceFlowHonoursContext(t *testing.T) {
	env := newDeviceEnv(t, deviceProvider(), deviceBody)
	ctx, cancel := context.WithCancel(testCtx(t))
	env.client.o.Sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		return ctx.Err()
	}
	_, err := env.client.Acquire(ctx)
	require.ErrorIs(t, err, context.Canceled)
}
