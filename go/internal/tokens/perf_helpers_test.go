package tokens_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// This file holds what the performance benchmarks and the concurrency and
// steady-state tests share: a token endpoint on 127.0.0.1 with a fixed
// latency, and managers wired to it through the real OAuth client and the
// real state store, as the sidecar wires them.

// tokenEndpoint answers refresh_token (rotating the refresh token) and
// client_credentials requests after a fixed latency.
type tokenEndpoint struct {
	srv      *httptest.Server
	latency  time.Duration
	lifetime int // expires_in, seconds
	requests atomic.Int64
	served   atomic.Int64 // how long the last request took in the handler, ns
}

func startTokenEndpoint(tb testing.TB, latency time.Duration, lifetime int) *tokenEndpoint {
	tb.Helper()
	e := &tokenEndpoint{latency: latency, lifetime: lifetime}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		defer func() { e.served.Store(int64(time.Since(began))) }()
		n := e.requests.Add(1)
		if e.latency > 0 {
			t := time.NewTimer(e.latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.PostForm.Get("grant_type") {
		case "refresh_token":
			_, _ = fmt.Fprintf(w, `{"access_token":"at-%d","token_type":"Bearer","refresh_token":"rt-%d","expires_in":%d}`, n, n, e.lifetime)
		case "client_credentials":
			_, _ = fmt.Fprintf(w, `{"access_token":"cc-%d","token_type":"Bearer","expires_in":%d}`, n, e.lifetime)
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprint(w, `{"error":"unsupported_grant_type"}`)
		}
	}))
	tb.Cleanup(e.srv.Close)
	return e
}

// grantKind is how a manager renews: a user flow refreshes, a machine flow
// acquires again.
type grantKind string

const (
	userRefresh grantKind = "refresh_token"
	machine     grantKind = "client_credentials"
)

// managerOptions are the knobs newManager passes on.
type managerOptions struct {
	now         func() time.Time // nil: the real clock
	writeBehind bool             // as the sidecar runs its managers
}

// newManager returns a manager for a provider of the given kind served by
// e, with its state in dir. A user-flow provider starts from an expired
// access token and a refresh token on disk; a machine provider from nothing.
func newManager(tb testing.TB, e *tokenEndpoint, kind grantKind, dir string, o managerOptions) *tokens.Manager {
	tb.Helper()
	p := config.Provider{
		ID: "acme", Issuer: e.srv.URL, ClientID: "perf",
		Endpoints:   config.Endpoints{Token: e.srv.URL + "/token", Authorization: e.srv.URL + "/authorize"},
		HTTPTimeout: 10 * time.Second,
	}
	if kind == machine {
		p.Flow = config.ClientCredentials
		p.ClientSecret = secret.New("perf-secret")
	} else {
		p.Flow = config.AuthorizationCode
		p.ClientAuthMethod = config.AuthMethodNone
		p.Scopes = []string{"offline_access"}
	}
	log := logging.Discard()
	client, err := oauth.New(p, oauth.Options{Log: log})
	require.NoError(tb, err)
	st, err := store.Open(dir, log)
	require.NoError(tb, err)
	entry := st.Entry(p.ID, "perf-key")
	if kind == userRefresh {
		past := time.Now().Add(-2 * time.Hour)
		require.NoError(tb, entry.Save(store.State{Token: &store.Token{
			AccessToken: "expired", TokenType: "Bearer", RefreshToken: "rt-0",
			ObtainedAt: past, ExpiresAt: past.Add(time.Hour),
		}}))
	}
	m := tokens.NewManager(tokens.Options{
		ProviderID: p.ID, Grant: client, Entry: entry, Log: log, Now: o.now, WriteBehind: o.writeBehind,
		Policy: tokens.Policy{Skew: 30 * time.Second, UserFlow: kind == userRefresh},
	})
	// Registered after dir's own cleanup, so it runs first: no write is
	// under way when dir is removed.
	tb.Cleanup(func() {
		if err := m.Flush(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return m
}

// openFDs counts this process's open file descriptors, or returns -1 where
// /proc/self/fd does not exist (not Linux).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// settle waits (bounded) until the goroutine and descriptor counts are back
// within tolerance of the baseline, and returns the last counts.
func settle(baseG, baseFD, tolerance int) (goroutines, fds int) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		goroutines, fds = runtime.NumGoroutine(), openFDs()
		if (goroutines <= baseG+tolerance && fds <= baseFD+tolerance) || time.Now().After(deadline) {
			return goroutines, fds
		}
		time.Sleep(20 * time.Millisecond)
	}
}
