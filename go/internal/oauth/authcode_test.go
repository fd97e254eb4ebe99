package oauth

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
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

// step is one request the fake user's browser sends to the loopback server.
type step struct {
	path  string                                       // default: the redirect URI's path
	query func(auth url.Values, iss string) url.Values // auth is the authorization request
	async bool                                         // do not wait for the answer before the next step
}

func good(auth url.Values, iss string) url.Values {
	return url.Values{"code": {canaryCode}, "state": {auth.Get("state")}, "iss": {iss}}
}

// fakeUser plays the browser: it follows the start URL to the authorization
// request, records it at the fake server, then sends its steps.
type fakeUser struct {
	t        *testing.T
	as       *fakeAS
	steps    []step
	statuses chan []int
	pages    []string // the pages the callbacks answered with; read after wait
}

func newFakeUser(t *testing.T, as *fakeAS, steps ...step) *fakeUser {
	return &fakeUser{t: t, as: as, steps: steps, statuses: make(chan []int, 1)}
}

var testHTTP = &http.Client{
	Timeout:       15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func fetch(rawURL string) (int, string, http.Header, error) {
	resp, err := testHTTP.Get(rawURL)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), resp.Header, nil
}

func (u *fakeUser) drive(startURL string) {
	var (
		mu       sync.Mutex
		statuses []int
		pages    []string
		wg       sync.WaitGroup
	)
	defer func() {
		wg.Wait()
		u.pages = pages
		u.statuses <- statuses
	}()
	defer u.as.openGate()
	status, _, h, err := fetch(startURL)
	if err != nil || status != http.StatusFound {
		u.t.Errorf("start URL: status %d, err %v", status, err)
		return
	}
	authURL, err := url.Parse(h.Get("Location"))
	if err != nil {
		u.t.Errorf("start URL redirect: %v", err)
		return
	}
	auth := authURL.Query()
	u.as.set(func(f *fakeAS) { f.authQuery = auth })
	redirect, err := url.Parse(auth.Get("redirect_uri"))
	if err != nil {
		u.t.Errorf("redirect_uri: %v", err)
		return
	}
	for _, s := range u.steps {
		target := *redirect
		if s.path != "" {
			target.Path = s.path
		}
		if s.query != nil {
			target.RawQuery = s.query(auth, u.as.issuer).Encode()
		}
		send := func() {
			status, page, _, err := fetch(target.String())
			if err != nil {
				u.t.Errorf("callback: %v", err)
				return
			}
			mu.Lock()
			statuses = append(statuses, status)
			pages = append(pages, page)
			mu.Unlock()
			u.as.openGate() // one answer is in: the held one may now complete
		}
		if s.async {
			wg.Add(1)
			go func() { defer wg.Done(); send() }()
			continue
		}
		send()
	}
}

func (u *fakeUser) open(_ context.Context, startURL string) error {
	go u.drive(startURL)
	return nil
}

func (u *fakeUser) wait(t *testing.T) []int {
	t.Helper()
	select {
	case s := <-u.statuses:
		return s
	case <-time.After(20 * time.Second):
		t.Fatal("the fake browser did not finish")
		return nil
	}
}

type codeEnv struct {
	client  *Client
	prompts []Prompt
	stderr  *syncbuf.Buffer
	logs    *syncbuf.Buffer
}

func newCodeClient(t *testing.T, p config.Provider, open func(context.Context, string) error, onPrompt func(Prompt)) *codeEnv {
	t.Helper()
	log, logs := debugLogger()
	env := &codeEnv{stderr: &syncbuf.Buffer{}, logs: logs}
	c, err := New(p, Options{
		Log: log, Stderr: env.stderr, OpenBrowser: open,
		Prompt: func(pr Prompt) {
			env.prompts = append(env.prompts, pr)
			if onPrompt != nil {
				onPrompt(pr)
			}
		},
	})
	require.NoError(t, err)
	env.client = c
	return env
}

func TestAuthorizationCode(t *testing.T) {
	wrongState := func(auth url.Values, iss string) url.Values {
		return url.Values{"code": {"forged"}, "state": {"not-the-state"}, "iss": {iss}}
	}
	tests := []struct {
		name         string
		steps        []step
		edit         func(p *config.Provider, as *fakeAS)
		wantStatuses []int
		wantErr      string
		wantErrIs    error
		tokenCalls   int
	}{
		{
			name: "success", steps: []step{{query: good}}, wantStatuses: []int{200}, tokenCalls: 1,
		},
		{
			name: "stray requests do not abort",
			steps: []step{
				{path: "/favicon.ico"},
				{path: "/elsewhere", query: good},
				{},
				{query: func(a url.Values, iss string) url.Values { return url.Values{"code": {"x"}} }},
				{query: wrongState},
				{query: func(a url.Values, iss string) url.Values {
					return url.Values{"error": {"access_denied"}, "state": {"forged"}}
				}},
				{query: good},
			},
			wantStatuses: []int{404, 404, 400, 400, 400, 400, 200}, tokenCalls: 1,
		},
		{
			name:  "replayed callback is refused",
			steps: []step{{query: good, async: true}, {query: good}}, wantStatuses: []int{200, 400}, tokenCalls: 1,
			edit: func(_ *config.Provider, as *fakeAS) { as.gate = make(chan struct{}) },
		},
		{
			name:  "state mismatch only: the login times out",
			steps: []step{{query: wrongState}}, wantStatuses: []int{400},
			edit:    func(p *config.Provider, _ *fakeAS) { p.LoginTimeout = 3 * time.Second },
			wantErr: "no login was completed", wantErrIs: tokens.ErrLoginRequired,
		},
		{
			name: "missing state: the login times out",
			steps: []step{{query: func(a url.Values, iss string) url.Values {
				return url.Values{"code": {canaryCode}, "iss": {iss}}
			}}},
			wantStatuses: []int{400},
			edit:         func(p *config.Provider, _ *fakeAS) { p.LoginTimeout = 3 * time.Second },
			wantErr:      "no login was completed", wantErrIs: tokens.ErrLoginRequired,
		},
		{
			name: "iss mismatch",
			steps: []step{{query: func(a url.Values, iss string) url.Values {
				q := good(a, iss)
				q.Set("iss", "https://evil.test")
				return q
			}}},
			wantStatuses: []int{400}, wantErr: "issuer_mismatch", wantErrIs: tokens.ErrLoginRequired,
		},
		{
			name: "iss missing although advertised",
			steps: []step{{query: func(a url.Values, iss string) url.Values {
				q := good(a, iss)
				q.Del("iss")
				return q
			}}},
			wantStatuses: []int{400}, wantErr: "issuer_missing",
		},
		{
			name: "iss absent and not advertised is accepted",
			steps: []step{{query: func(a url.Values, iss string) url.Values {
				q := good(a, iss)
				q.Del("iss")
				return q
			}}},
			edit:         func(_ *config.Provider, as *fakeAS) { as.issSupported = false },
			wantStatuses: []int{200}, tokenCalls: 1,
		},
		{
			name: "access denied",
			steps: []step{{query: func(a url.Values, iss string) url.Values {
				return url.Values{"error": {"access_denied"}, "error_description": {"The user cancelled"}, "state": {a.Get("state")}, "iss": {iss}}
			}}},
			wantStatuses: []int{400}, wantErr: "access_denied: The user cancelled", wantErrIs: tokens.ErrLoginRequired,
		},
		{
			name: "no refresh token", steps: []step{{query: good}}, wantStatuses: []int{200}, tokenCalls: 1,
			edit:    func(_ *config.Provider, as *fakeAS) { as.noRefresh = true },
			wantErr: "offline_access",
		},
		{
			name: "id_token with the wrong nonce", steps: []step{{query: good}}, wantStatuses: []int{200}, tokenCalls: 1,
			edit:    func(_ *config.Provider, as *fakeAS) { as.idClaims = func(c map[string]any) { c["nonce"] = "other" } },
			wantErr: "nonce does not match",
		},
		{
			name: "code rejected at the token endpoint, echo scrubbed", steps: []step{{query: good}}, wantStatuses: []int{200}, tokenCalls: 1,
			edit: func(_ *config.Provider, as *fakeAS) {
				as.tokenError = &tokenErr{status: 400, body: `{"error":"invalid_grant","error_description":"code ` + canaryCode + ` is unknown"}`}
			},
			wantErr: "invalid_grant", wantErrIs: tokens.ErrInvalidGrant,
		},
		{
			name: "PKCE disabled", steps: []step{{query: good}}, wantStatuses: []int{200}, tokenCalls: 1,
			edit: func(p *config.Provider, _ *fakeAS) { p.PKCE = false },
		},
		{
			name: "without openid no nonce and no id_token check", steps: []step{{query: good}}, wantStatuses: []int{200}, tokenCalls: 1,
			edit: func(p *config.Provider, as *fakeAS) {
				p.Scopes = []string{"api:read"}
				as.idClaims = func(c map[string]any) { c["aud"] = "someone-else" }
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as := newFakeAS(t)
			p := as.provider()
			if tt.edit != nil {
				tt.edit(&p, as)
			}
			u := newFakeUser(t, as, tt.steps...)
			env := newCodeClient(t, p, u.open, nil)
			tok, err := env.client.Acquire(testCtx(t))
			assert.ElementsMatch(t, tt.wantStatuses, u.wait(t))
			assert.Equal(t, tt.tokenCalls, as.tokenCalls())
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				if tt.wantErrIs != nil {
					assert.ErrorIs(t, err, tt.wantErrIs)
				}
				assert.NotContains(t, err.Error(), canaryCode)
				assert.Contains(t, err.Error(), `"acme"`)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, canaryAT, tok.AccessToken.Reveal())
			assert.Equal(t, canaryRT, tok.RefreshToken.Reveal())
			assert.False(t, tok.ExpiresAt.IsZero())

			auth := as.authQuery
			assert.Equal(t, "code", auth.Get("response_type"))
			assert.Equal(t, testClient, auth.Get("client_id"))
			assert.Regexp(t, `^http://127\.0\.0\.1:\d+/oauth2/callback$`, auth.Get("redirect_uri"))
			assert.Len(t, auth.Get("state"), 43)
			form := as.tokenForms[0]
			assert.Equal(t, "authorization_code", form.Get("grant_type"))
			assert.Equal(t, testClient, form.Get("client_id"))
			if p.PKCE {
				assert.Equal(t, "S256", auth.Get("code_challenge_method"))
				assert.Equal(t, auth.Get("code_challenge"), s256Plain(form.Get("code_verifier")))
				assert.Len(t, form.Get("code_verifier"), 43)
			} else {
				assert.Empty(t, auth.Get("code_challenge"))
				assert.Empty(t, form.Get("code_verifier"))
			}
			if hasOpenID(p.Scopes) {
				assert.Len(t, auth.Get("nonce"), 43)
			} else {
				assert.Empty(t, auth.Get("nonce"))
			}
			require.Len(t, env.prompts, 1)
			assert.Equal(t, PromptBrowser, env.prompts[0].Kind)
			assert.Equal(t, "acme", env.prompts[0].ProviderID)
			assert.Contains(t, env.prompts[0].Message, "browser window was opened")
		})
	}
}

func TestAuthorizationCodeBrowserCannotOpen(t *testing.T) {
	as := newFakeAS(t)
	u := newFakeUser(t, as, step{query: good})
	env := newCodeClient(t, as.provider(),
		func(context.Context, string) error { return errors.New("xdg-open failed: exit status 3") },
		func(p Prompt) { go u.drive(p.URL) }) // the person opens the URL by hand
	tok, err := env.client.Acquire(testCtx(t))
	require.NoError(t, err)
	assert.Equal(t, canaryAT, tok.AccessToken.Reveal())
	assert.Equal(t, []int{200}, u.wait(t))

	require.Len(t, env.prompts, 1)
	pr := env.prompts[0]
	assert.Equal(t, PromptBrowser, pr.Kind)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/start/[A-Za-z0-9_-]{43}$`, pr.URL)
	assert.Contains(t, pr.Message, "open this URL")
	assert.False(t, pr.ExpiresAt.IsZero())
	assert.Contains(t, pr.Text(), pr.URL)
	assert.NotContains(t, env.stderr.String(), pr.URL, "with a Prompt callback, the callback shows it (once)")
	assert.Contains(t, env.logs.String(), "could not open a browser")
	assert.NotContains(t, env.logs.String(), pr.URL, "the one-time start link is shown, never logged")
	assert.NotContains(t, env.stderr.String(), as.authQuery.Get("state"), "the state never reaches the terminal")
}

func TestAuthorizationCodePortTaken(t *testing.T) {
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port

	as := newFakeAS(t)
	p := as.provider()
	p.RedirectPort = port
	opened := false
	env := newCodeClient(t, p, func(context.Context, string) error { opened = true; return nil }, nil)
	_, err = env.client.Acquire(testCtx(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `provider "acme"`)
	assert.Contains(t, err.Error(), "redirectPort "+strconv.Itoa(port))
	assert.Contains(t, err.Error(), "already in use")
	assert.False(t, opened, "no browser for a login that cannot receive its answer")
}

func TestAuthorizationCodeFixedPort(t *testing.T) {
	probe, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	port := probe.Addr().(*net.TCPAddr).Port
	require.NoError(t, probe.Close())

	as := newFakeAS(t)
	p := as.provider()
	p.RedirectPort = port
	u := newFakeUser(t, as, step{query: good})
	env := newCodeClient(t, p, u.open, nil)
	_, err = env.client.Acquire(testCtx(t))
	require.NoError(t, err)
	u.wait(t)
	assert.Equal(t, "http://127.0.0.1:"+strconv.Itoa(port)+"/oauth2/callback", as.authQuery.Get("redirect_uri"))
}

func TestAuthorizationURLKeepsEndpointQuery(t *testing.T) {
	as := newFakeAS(t)
	p := as.provider()
	p.Resources = []string{"https://api.test/"}
	env := newCodeClient(t, p, nil, nil)
	raw := env.client.authorizationURL("https://idp.test/authorize?tenant=a&client_id=evil&Client_ID=evil2&response_mode=form_post&request_uri=https%3A%2F%2Fevil&Request=x", "http://127.0.0.1:1/oauth2/callback", env.client.newAuthRequest())
	u, err := url.Parse(raw)
	require.NoError(t, err)
	q := u.Query()
	assert.Equal(t, "a", q.Get("tenant"))
	assert.Equal(t, []string{testClient}, q["client_id"], "ours overrides")
	for _, k := range []string{"Client_ID", "response_mode", "request_uri", "Request"} {
		assert.NotContains(t, q, k, "a parameter the plugin sets or never sends is dropped from the endpoint's query, whatever its case")
	}
	assert.Equal(t, "openid offline_access", q.Get("scope"))
	assert.Equal(t, []string{"https://api.test/"}, q["resource"])
	assert.True(t, strings.HasPrefix(raw, "https://idp.test/authorize?"))
}
