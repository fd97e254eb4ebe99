package loopback

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

const (
	testState  = "expected-state-0123456789"
	testIssuer = "https://issuer.test"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.State.IsZero() {
		cfg.State = secret.New(testState)
	}
	if cfg.Issuer == "" {
		cfg.Issuer = testIssuer
	}
	s, err := Listen(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	s.Start("https://issuer.test/authorize?client_id=x")
	return s
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type answer struct {
	status int
	body   string
	header http.Header
}

func get(t *testing.T, rawURL string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{status: resp.StatusCode, body: string(b), header: resp.Header}
}

func callback(s *Server, q url.Values) string {
	return s.RedirectURI() + "?" + q.Encode()
}

// waitNone asserts that Wait has nothing yet (the login goes on).
func waitNone(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	code, err := s.Wait(ctx)
	assert.True(t, code.IsZero())
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// verdict is what judge made of a query, for the tables.
type verdict int

const (
	stray verdict = iota
	rejected
	accepted
)

func (j judgement) verdict() verdict {
	switch {
	case j.reason != "":
		return stray
	case j.err != nil:
		return rejected
	}
	return accepted
}

func TestJudge(t *testing.T) {
	state := secret.New(testState)
	tests := []struct {
		name       string
		query      string
		requireIss bool
		want       verdict
		wantCode   string
		wantErr    string
	}{
		{name: "code and state", query: "code=abc&state=" + testState, want: accepted, wantCode: "abc"},
		{name: "code, state and iss", query: "code=abc&state=" + testState + "&iss=" + url.QueryEscape(testIssuer), want: accepted, wantCode: "abc"},
		{name: "iss required and present", query: "code=abc&state=" + testState + "&iss=" + url.QueryEscape(testIssuer), requireIss: true, want: accepted, wantCode: "abc"},
		{name: "missing state", query: "code=abc", want: stray},
		{name: "empty state", query: "code=abc&state=", want: stray},
		{name: "state mismatch", query: "code=abc&state=other", want: stray},
		{name: "state prefix", query: "code=abc&state=" + testState[:10], want: stray},
		{name: "two states", query: "code=abc&state=" + testState + "&state=" + testState, want: stray},
		{name: "error with wrong state cannot abort", query: "error=access_denied&state=other", want: stray},
		{name: "missing code", query: "state=" + testState, want: stray},
		{name: "empty code", query: "code=&state=" + testState, want: stray},
		{name: "access denied", query: "error=access_denied&error_description=User+said+no&state=" + testState, want: rejected, wantErr: "access_denied: User said no"},
		{name: "error description scrubbed", query: "error=invalid_request&error_description=" + url.QueryEscape("bad code=s3cr3t") + "&state=" + testState, want: rejected, wantErr: "code=[redacted]"},
		{name: "iss mismatch", query: "code=abc&state=" + testState + "&iss=https%3A%2F%2Fevil.test", want: rejected, wantErr: "issuer_mismatch"},
		{name: "iss mismatch trailing slash", query: "code=abc&state=" + testState + "&iss=" + url.QueryEscape(testIssuer+"/"), want: rejected, wantErr: "issuer_mismatch"},
		{name: "iss mismatch on error response", query: "error=access_denied&state=" + testState + "&iss=https%3A%2F%2Fevil.test", want: rejected, wantErr: "issuer_mismatch"},
		{name: "iss missing when required", query: "code=abc&state=" + testState, requireIss: true, want: rejected, wantErr: "issuer_missing"},
		{name: "two codes", query: "code=a&code=b&state=" + testState, want: rejected, wantErr: "repeats the code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			require.NoError(t, err)
			j := judge(q, state, testIssuer, tt.requireIss)
			assert.Equal(t, tt.want, j.verdict(), j.reason)
			assert.Equal(t, tt.wantCode, j.code)
			if tt.wantErr != "" {
				require.NotNil(t, j.err)
				assert.Contains(t, j.err.Error(), tt.wantErr)
				assert.NotContains(t, j.err.Error(), "s3cr3t")
			} else {
				assert.Nil(t, j.err)
			}
		})
	}
}

func TestSuccessAfterStrayRequests(t *testing.T) {
	s := start(t, Config{Label: "Acme AI"})

	strays := []struct {
		name   string
		url    string
		status int
	}{
		{"favicon", "http://127.0.0.1:" + strconv.Itoa(s.port) + "/favicon.ico", http.StatusNotFound},
		{"wrong path", "http://127.0.0.1:" + strconv.Itoa(s.port) + "/callback?code=abc&state=" + testState, http.StatusNotFound},
		{"no parameters", s.RedirectURI(), http.StatusBadRequest},
		{"missing state", callback(s, url.Values{"code": {"abc"}}), http.StatusBadRequest},
		{"wrong state", callback(s, url.Values{"code": {"abc"}, "state": {"nope"}}), http.StatusBadRequest},
		{"error with wrong state", callback(s, url.Values{"error": {"access_denied"}, "state": {"nope"}}), http.StatusBadRequest},
		{"bad query", s.RedirectURI() + "?code=%zz&state=" + testState, http.StatusBadRequest},
	}
	for _, st := range strays {
		a := get(t, st.url)
		assert.Equal(t, st.status, a.status, st.name)
		assert.NotContains(t, a.body, "login-success", st.name)
		assert.Equal(t, "no-store", a.header.Get("Cache-Control"))
		waitNone(t, s)
	}

	// The start URL redirects to the authorization request.
	a := get(t, s.StartURL())
	assert.Equal(t, http.StatusFound, a.status)
	assert.Equal(t, "https://issuer.test/authorize?client_id=x", a.header.Get("Location"))

	page := make(chan answer, 1)
	go func() {
		page <- get(t, callback(s, url.Values{"code": {"the-code"}, "state": {testState}, "iss": {testIssuer}}))
	}()
	code, err := s.Wait(testCtx(t))
	require.NoError(t, err)
	assert.Equal(t, "the-code", code.Reveal())

	// While the exchange runs, a replay is refused.
	replay := get(t, callback(s, url.Values{"code": {"the-code"}, "state": {testState}, "iss": {testIssuer}}))
	assert.Equal(t, http.StatusBadRequest, replay.status)
	assert.Contains(t, replay.body, "Already used")

	s.Finish(nil)
	s.Finish(errors.New("ignored: only the first verdict counts"))
	got := <-page
	assert.Equal(t, http.StatusOK, got.status)
	assert.Contains(t, got.body, `id="login-success"`)
	assert.Contains(t, got.body, "Acme AI")
	assert.NotContains(t, got.body, "the-code")

	// After completion: replays are refused, the start URL is gone.
	assert.Equal(t, http.StatusBadRequest, get(t, callback(s, url.Values{"code": {"the-code"}, "state": {testState}})).status)
	assert.Equal(t, http.StatusGone, get(t, s.StartURL()).status)
}

func TestRejectedResponses(t *testing.T) {
	tests := []struct {
		name       string
		query      url.Values
		requireIss bool
		wantCode   string
	}{
		{name: "access denied", query: url.Values{"error": {"access_denied"}, "error_description": {"<b>no</b>"}}, wantCode: "access_denied"},
		{name: "iss mismatch", query: url.Values{"code": {"c"}, "iss": {"https://evil.test"}}, wantCode: "issuer_mismatch"},
		{name: "iss missing", query: url.Values{"code": {"c"}}, requireIss: true, wantCode: "issuer_missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, Config{RequireIssuer: tt.requireIss})
			tt.query.Set("state", testState)
			a := get(t, callback(s, tt.query))
			assert.Equal(t, http.StatusBadRequest, a.status)
			assert.Contains(t, a.body, `id="login-failure"`)
			assert.NotContains(t, a.body, "<b>", "server text is escaped")
			code, err := s.Wait(testCtx(t))
			assert.True(t, code.IsZero())
			var ae *AuthError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.wantCode, ae.Code)
			// The state is used up: nothing can complete this login any more.
			again := get(t, callback(s, url.Values{"code": {"c"}, "state": {testState}, "iss": {testIssuer}}))
			assert.Equal(t, http.StatusBadRequest, again.status)
			waitNone(t, s)
		})
	}
}

func TestFailureVerdictAndTimeout(t *testing.T) {
	t.Run("exchange failed", func(t *testing.T) {
		s := start(t, Config{})
		page := make(chan answer, 1)
		go func() { page <- get(t, callback(s, url.Values{"code": {"c"}, "state": {testState}})) }()
		_, err := s.Wait(testCtx(t))
		require.NoError(t, err)
		s.Finish(errors.New(`token request failed: invalid_grant access_token="abc"`))
		got := <-page
		assert.Contains(t, got.body, `id="login-failure"`)
		assert.Contains(t, got.body, "invalid_grant")
	})
	t.Run("no verdict in time", func(t *testing.T) {
		s := start(t, Config{FinishTimeout: 10 * time.Millisecond})
		a := get(t, callback(s, url.Values{"code": {"c"}, "state": {testState}}))
		assert.Contains(t, a.body, `id="login-info"`)
		_, err := s.Wait(testCtx(t))
		require.NoError(t, err)
	})
	t.Run("close answers a waiting page", func(t *testing.T) {
		s := start(t, Config{FinishTimeout: time.Minute})
		page := make(chan answer, 1)
		go func() { page <- get(t, callback(s, url.Values{"code": {"c"}, "state": {testState}})) }()
		_, err := s.Wait(testCtx(t))
		require.NoError(t, err)
		require.NoError(t, s.Close())
		select {
		case got := <-page:
			assert.Contains(t, got.body, `id="login-info"`)
		case <-time.After(10 * time.Second):
			t.Fatal("the page was not answered after Close")
		}
	})
}

func TestOtherHostIsRefused(t *testing.T) {
	s := start(t, Config{})
	for _, target := range []string{s.StartURL(), callback(s, url.Values{"code": {"c"}, "state": {testState}})} {
		req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, target, nil)
		require.NoError(t, err)
		req.Host = "rebound.evil.test:" + strconv.Itoa(s.port)
		resp, err := noRedirect.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode)
		assert.Empty(t, resp.Header.Get("Location"))
	}
	waitNone(t, s)
	// localhost is the same machine.
	a := get(t, strings.Replace(s.StartURL(), "127.0.0.1", "localhost", 1))
	assert.Equal(t, http.StatusFound, a.status)
}

func TestMethodNotAllowed(t *testing.T) {
	s := start(t, Config{})
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodPost, s.RedirectURI(), strings.NewReader("code=c&state="+testState))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := noRedirect.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	waitNone(t, s)
}

func TestListen(t *testing.T) {
	t.Run("binds 127.0.0.1 only", func(t *testing.T) {
		s := start(t, Config{})
		assert.Equal(t, "127.0.0.1", s.ln.Addr().(*net.TCPAddr).IP.String())
		assert.Equal(t, "http://127.0.0.1:"+strconv.Itoa(s.port)+"/oauth2/callback", s.RedirectURI())
	})
	t.Run("port taken", func(t *testing.T) {
		busy, err := net.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		defer busy.Close()
		port := busy.Addr().(*net.TCPAddr).Port
		_, err = Listen(Config{Port: port, State: secret.New(testState)})
		require.ErrorIs(t, err, ErrPortInUse)
		assert.Contains(t, err.Error(), strconv.Itoa(port))
	})
	t.Run("fixed free port", func(t *testing.T) {
		probe, err := net.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		port := probe.Addr().(*net.TCPAddr).Port
		require.NoError(t, probe.Close())
		s, err := Listen(Config{Port: port, State: secret.New(testState)})
		require.NoError(t, err)
		defer s.Close()
		assert.Equal(t, port, s.port)
	})
	t.Run("no state", func(t *testing.T) {
		_, err := Listen(Config{})
		require.Error(t, err)
	})
	t.Run("close without start", func(t *testing.T) {
		s, err := Listen(Config{State: secret.New(testState)})
		require.NoError(t, err)
		require.NoError(t, s.Close())
		require.NoError(t, s.Close())
	})
}
