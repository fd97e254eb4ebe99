package rpc_test

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSteadyStateHasNoGoroutineOrFDGrowth drives the real server and engine
// over OS pipes and checks, after each workload, that the goroutine and file
// descriptor counts come back to where they were before the first. Counts,
// not times. The workloads:
//   - 10,000 headers/get on a provider whose token is fresh;
//   - 1,000 headers/get on one whose token is acquired again on every
//     request (a machine grant without expires_in: token request, lock file,
//     state file write, headers/invalidate each time);
//   - 100 config/apply that each replace a provider (a new cache key: a new
//     runtime, HTTP client, token and model sync; the old one is stopped).
func TestSteadyStateHasNoGoroutineOrFDGrowth(t *testing.T) {
	const (
		warmUp    = 20
		tolerance = 5
		models    = 50
	)
	idp := startStubIdP(t, models)
	s := startPipeSidecar(t, 0) // the default file watcher runs, as in production
	providers := func(round int) map[string]any {
		return map[string]any{
			"fresh": idp.provider("api"), "renew": idp.provider("noexpiry"),
			"churn": idp.provider(fmt.Sprintf("churn-%d", round)),
		}
	}
	s.initialize(t, providers(0), models)
	headers := func(provider string, n int) func(t *testing.T) {
		return func(t *testing.T) {
			for i := range n {
				_, err := s.call("headers/get", map[string]any{"providerID": provider, "modelID": "model-001"})
				require.NoError(t, err, "request %d", i)
			}
		}
	}
	round := 0 // every round is new: a new cache key, so no cached token
	apply := func(rounds int) func(t *testing.T) {
		return func(t *testing.T) {
			for range rounds {
				round++
				_, err := s.call("config/apply", map[string]any{"config": map[string]any{"provider": providers(round)}})
				require.NoError(t, err, "round %d", round)
			}
			p, ok := s.hub.Location("").Provider("churn")
			require.True(t, ok)
			require.True(t, waitFor(10*time.Second, func() bool { return !p.Entry.Load().LastSyncAt.IsZero() }), "the last sync did not finish")
		}
	}
	// Warm up: the HTTP connections, the watcher, the runtime's own goroutines.
	headers("fresh", warmUp)(t)
	headers("renew", warmUp)(t)
	apply(2)(t)
	runtime.GC()
	baseG, baseFD := runtime.NumGoroutine(), openFDs()

	tests := []struct {
		name       string
		run        func(t *testing.T)
		scope      string // the scope (prefix) whose token requests are counted
		wantTokens int64  // token requests the workload makes with it
	}{
		{"10,000 headers/get, fresh token", headers("fresh", 10_000), "api", 0},
		{"1,000 headers/get, token renewed each time", headers("renew", 1_000), "noexpiry", 1_000},
		{"100 config/apply replacing a provider", apply(100), "churn", 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := idp.tokensFor(tc.scope)
			tc.run(t)
			assert.Equal(t, tc.wantTokens, idp.tokensFor(tc.scope)-before, "token requests with scope %s", tc.scope)
			g, fd := settle(baseG, baseFD, tolerance)
			assert.LessOrEqual(t, g, baseG+tolerance, "goroutines: %d before, %d after", baseG, g)
			if baseFD < 0 {
				t.Logf("no /proc/self/fd on %s: descriptors not counted", runtime.GOOS)
				return
			}
			assert.LessOrEqual(t, fd, baseFD+tolerance, "open descriptors: %d before, %d after", baseFD, fd)
		})
	}
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
