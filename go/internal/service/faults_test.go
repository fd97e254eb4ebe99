package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/models"
	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
	"github.com/vymalo/opencode-oauth2/go/internal/service"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/syncbuf"
)

// Faults the flaky authorization server and gateway can be switched to.
const (
	faultNone = iota
	fault500  // HTTP 500 with an HTML page
	faultHTML // HTTP 200 with an HTML page (a captive portal, a login page)
	faultSlow // no answer until the client gives up
	faultDown // the connection is closed without an answer
)

var faultNames = map[int32]string{fault500: "500", faultHTML: "HTML", faultSlow: "slow", faultDown: "down"}

// flakyIdP is a token endpoint and a gateway's /v1/models on 127.0.0.1
// whose answers can be switched to a fault, counting the requests that
// would mean a login was started.
type flakyIdP struct {
	srv        *httptest.Server
	fault      atomic.Int32
	tokens     atomic.Int32
	logins     atomic.Int32 // requests to /authorize or /device
	release    chan struct{}
	releaseOne sync.Once
}

func startFlakyIdP(t *testing.T) *flakyIdP {
	t.Helper()
	f := &flakyIdP{release: make(chan struct{})}
	misbehave := func(w http.ResponseWriter, r *http.Request) bool {
		switch f.fault.Load() {
		case fault500:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("<html><body><h1>Internal Server Error</h1></body></html>"))
		case faultHTML:
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<!doctype html><html><form action=/login>Sign in</form></html>"))
		case faultSlow:
			select {
			case <-r.Context().Done():
			case <-f.release:
			}
		case faultDown:
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = conn.Close()
			}
		default:
			return false
		}
		return true
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if misbehave(w, r) {
			return
		}
		n := f.tokens.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"access_token":"new-at-%d","token_type":"Bearer","expires_in":3600,"refresh_token":"new-rt-%d"}`, n, n)
	})
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		if misbehave(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"fresh-model"}]}`))
	})
	for _, p := range []string{"/authorize", "/device"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) {
			f.logins.Add(1)
			http.Error(w, "no login in this test", http.StatusForbidden)
		})
	}
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.releaseOne.Do(func() { close(f.release) })
		f.srv.Close()
	})
	return f
}

// recorder is the shim's side of the notifications.
type recorder struct {
	mu      sync.Mutex
	methods []string
}

func (r *recorder) Notify(_ context.Context, method string, _ any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.methods = append(r.methods, method)
	return nil
}

func (r *recorder) count(method string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.methods {
		if m == method {
			n++
		}
	}
	return n
}

// TestServerFaultsKeepTheLastGoodTokenAndModels: with the authorization
// server and the gateway answering 500, HTML, nothing at all, or closing
// the connection, an interactive sidecar whose cached token is due for
// renewal but not expired keeps serving it, keeps the cached model list,
// says so in one log line each, and never starts a login. With the token
// expired, the request fails (transient; config for an HTML page), still
// without a login. When the server recovers, new ones are fetched.
func TestServerFaultsKeepTheLastGoodTokenAndModels(t *testing.T) {
	t.Setenv("OPENCODE_OAUTH2_BROWSER", "none")
	flows := []struct {
		flow    string
		warning string
	}{
		{"client_credentials", "could not renew the token; using the current one until it expires"},
		{"authorization_code", "could not refresh the token; using the current one until it expires"},
	}
	for _, fl := range flows {
		for _, fault := range []int32{fault500, faultHTML, faultSlow, faultDown} {
			for _, expired := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/expired=%v", fl.flow, faultNames[fault], expired)
				t.Run(name, func(t *testing.T) {
					runFault(t, fl.flow, fl.warning, fault, expired)
				})
			}
		}
	}
}

func runFault(t *testing.T, flow, warning string, fault int32, expired bool) {
	idp := startFlakyIdP(t)
	oauth2 := map[string]any{
		"issuer": idp.srv.URL, "clientId": "cli", "authFlow": flow, "scopes": []string{"api"},
		"tokenEndpoint": idp.srv.URL + "/token", "authorizationEndpoint": idp.srv.URL + "/authorize",
		"httpTimeoutMs": 300,
	}
	if flow == "client_credentials" {
		oauth2["clientSecret"] = "cli-secret"
	}
	cfg := map[string]any{"provider": map[string]any{"gw": map[string]any{
		"options": map[string]any{"baseURL": idp.srv.URL + "/v1", "oauth2": oauth2},
	}}}
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	parsed, err := config.Parse(raw)
	require.NoError(t, err)
	require.Len(t, parsed.Providers, 1, "%v", parsed.Problems)

	// The cache another run left: a token due for renewal (or expired) and a model list.
	cache := t.TempDir()
	st, err := store.Open(cache, logging.Discard())
	require.NoError(t, err)
	expiresAt := time.Now().Add(20 * time.Second) // inside the 30 s renewal window
	if expired {
		expiresAt = time.Now().Add(-time.Minute)
	}
	cached, err := json.Marshal([]models.Model{{ID: "cached-model", Name: "Cached Model"}})
	require.NoError(t, err)
	require.NoError(t, st.Entry("gw", parsed.Providers[0].CacheKey()).Save(store.State{
		Token: &store.Token{AccessToken: "cached-at", RefreshToken: "cached-rt", TokenType: "Bearer",
			ExpiresAt: expiresAt, ObtainedAt: time.Now().Add(-time.Hour)},
		Models: cached, LastSyncAt: time.Now(),
	}))

	logs := &syncbuf.Buffer{}
	hub := service.NewHub(service.Options{Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		CacheDir: cache, BootBudget: 2 * time.Second, WatchEvery: -1})
	t.Cleanup(func() { _ = hub.Shutdown(context.Background()) })
	notes := &recorder{}
	require.NoError(t, hub.Initialize(context.Background(), protocol.InitializeParams{ProtocolVersion: protocol.ProtocolVersion, Interactive: true}, notes.Notify))
	eng := hub.Location("")
	idp.fault.Store(fault)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Start-up: the provider is registered with its cached models whatever the server does.
	res, err := eng.ApplyConfig(ctx, protocol.ConfigApplyParams{Config: raw})
	require.NoError(t, err)
	require.Equal(t, []string{"gw"}, res.Managed)
	assert.Contains(t, res.Providers["gw"]["models"], "cached-model")

	// A request: the cached token while it is valid, else a transient error.
	h, err := eng.Headers(ctx, protocol.HeadersParams{ProviderID: "gw"})
	if expired {
		require.Error(t, err)
		var terr *protocol.TokenError
		require.True(t, errors.As(err, &terr), "%v", err)
		// A page instead of a token response says more about the endpoint
		// than about the moment (a wrong tokenEndpoint, a portal): config.
		want := protocol.ReasonTransient
		if fault == faultHTML {
			want = protocol.ReasonConfig
		}
		assert.Equal(t, want, terr.Reason, "%v", err)
	} else {
		require.NoError(t, err)
		assert.Equal(t, "Bearer cached-at", h.Headers["Authorization"])
		assert.Contains(t, logs.String(), warning)
	}

	// A model sync: fails, the last good list stays.
	p, ok := eng.Provider("gw")
	require.True(t, ok)
	require.Error(t, p.Sync(ctx))
	assert.Equal(t, []string{"cached-model"}, modelIDs(p.Catalog.Models()))
	assert.Contains(t, logs.String(), "model sync failed")

	// Never a login from a failure: no prompt, no authorization request.
	assert.Zero(t, notes.count(protocol.NotifyPrompt), "a login prompt was sent")
	assert.Zero(t, idp.logins.Load(), "the authorization or device endpoint was contacted")
	assert.Zero(t, idp.tokens.Load(), "no token was issued while the server was failing")
	assert.NotContains(t, logs.String(), "cached-at")
	assert.NotContains(t, logs.String(), "cached-rt")

	// The server recovers: the next sync and request get new ones.
	idp.fault.Store(faultNone)
	require.NoError(t, p.Sync(ctx))
	assert.Equal(t, []string{"fresh-model"}, modelIDs(p.Catalog.Models()))
	h, err = eng.Headers(ctx, protocol.HeadersParams{ProviderID: "gw"})
	require.NoError(t, err)
	assert.Regexp(t, `^Bearer new-at-\d+$`, h.Headers["Authorization"])
}

func modelIDs(ms []models.Model) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// TestNoUsableCacheDirectoryServesFromMemory: with neither the cache
// directory nor the temporary directory usable (a regular file stands at
// both paths, as a read-only or full disk makes them fail; root ignores
// permission bits), the sidecar used to panic, and with only the cache
// directory unusable it left tokens behind in a temporary directory. It now
// says so once and keeps tokens in memory: nothing is written anywhere, and
// nothing is left after Shutdown.
func TestNoUsableCacheDirectoryServesFromMemory(t *testing.T) {
	base := t.TempDir()
	tmp := filepath.Join(base, "tmp")
	require.NoError(t, os.WriteFile(tmp, nil, 0o600))
	t.Setenv("TMPDIR", tmp)
	idp := startFlakyIdP(t)
	blocked := filepath.Join(base, "cache")
	require.NoError(t, os.WriteFile(blocked, nil, 0o600))

	logs := &syncbuf.Buffer{}
	eng := service.New(service.Options{Log: slog.New(slog.NewTextHandler(logs, nil)), CacheDir: blocked, WatchEvery: -1})
	raw := machineProvider(t, idp.srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := eng.ApplyConfig(ctx, protocol.ConfigApplyParams{Config: raw})
	require.NoError(t, err)
	require.Equal(t, []string{"gw"}, res.Managed)
	h, err := eng.Headers(ctx, protocol.HeadersParams{ProviderID: "gw"})
	require.NoError(t, err)
	assert.Regexp(t, `^Bearer new-at-\d+$`, h.Headers["Authorization"])
	again, err := eng.Headers(ctx, protocol.HeadersParams{ProviderID: "gw"})
	require.NoError(t, err)
	assert.Equal(t, h.Headers["Authorization"], again.Headers["Authorization"], "the token is kept in memory")
	assert.Regexp(t, `token cache directory unusable; tokens are kept in memory for this process only.* provider=gw `, logs.String())
	p, ok := eng.Provider("gw")
	require.True(t, ok)
	assert.Empty(t, p.Entry.Path(), "no cache file")
	require.NoError(t, eng.Shutdown(context.Background()))
	left, err := os.ReadDir(base)
	require.NoError(t, err)
	assert.Len(t, left, 2, "only the two planted files are there")
	for _, e := range left {
		assert.False(t, e.IsDir(), "nothing was created: %s", e.Name())
	}
}

// machineProvider is a config with one client_credentials provider "gw"
// against the test identity provider at url.
func machineProvider(t *testing.T, url string) []byte {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"provider": map[string]any{"gw": map[string]any{"options": map[string]any{
		"baseURL": url + "/v1",
		"oauth2": map[string]any{"issuer": url, "clientId": "cli", "clientSecret": "cli-secret",
			"authFlow": "client_credentials", "tokenEndpoint": url + "/token"},
	}}}})
	require.NoError(t, err)
	return raw
}

// TestInitializeLogLevel: the shim sends OpenCode's level as OpenCode has it
// (any case, "warning", "trace"); info records reach the shim at debug only.
func TestInitializeLogLevel(t *testing.T) {
	for _, tc := range []struct {
		level string
		info  bool
	}{
		{"DEBUG", true}, {"trace", true}, {"debug", true}, {"Warning", false}, {"INFO", false}, {"", false}, {"loud", false},
	} {
		t.Run(tc.level, func(t *testing.T) {
			log, sink := logging.NewWithFile(io.Discard, slog.LevelWarn, nil, slog.LevelInfo)
			e := service.NewHub(service.Options{Log: log, Sink: sink, CacheDir: t.TempDir(), WatchEvery: -1})
			t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
			r := &recorder{}
			require.NoError(t, e.Initialize(context.Background(), protocol.InitializeParams{ProtocolVersion: 1, LogLevel: tc.level}, r.Notify))
			before := r.count(protocol.NotifyLog)
			log.Info("lifecycle")
			assert.Equal(t, tc.info, r.count(protocol.NotifyLog) > before)
		})
	}
}

// logNotes records the params of the log notifications.
type logNotes struct {
	mu  sync.Mutex
	got []protocol.LogParams
}

func (l *logNotes) Notify(_ context.Context, method string, params any) error {
	if p, ok := params.(protocol.LogParams); ok && method == protocol.NotifyLog {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.got = append(l.got, p)
	}
	return nil
}

// TestForwardedLogNamesWhoSpeaks: a record reaches OpenCode's log (which
// does not show who speaks) as "opencode-oauth2: ...", never twice.
func TestForwardedLogNamesWhoSpeaks(t *testing.T) {
	for _, tc := range []struct{ message, want string }{
		{"token expires soon", "opencode-oauth2: token expires soon"},
		{"opencode-oauth2: said already", "opencode-oauth2: said already"},
	} {
		t.Run(tc.message, func(t *testing.T) {
			log, sink := logging.NewWithFile(io.Discard, slog.LevelWarn, nil, slog.LevelInfo)
			e := service.NewHub(service.Options{Log: log, Sink: sink, CacheDir: t.TempDir(), WatchEvery: -1})
			t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
			n := &logNotes{}
			require.NoError(t, e.Initialize(context.Background(), protocol.InitializeParams{ProtocolVersion: 1}, n.Notify))
			log.Warn(tc.message, "provider", "acme")
			n.mu.Lock()
			defer n.mu.Unlock()
			require.NotEmpty(t, n.got)
			last := n.got[len(n.got)-1]
			assert.Equal(t, tc.want, last.Message)
			assert.Equal(t, "warn", last.Level)
			assert.Equal(t, "acme", last.Extra["provider"])
		})
	}
}
