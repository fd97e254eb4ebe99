package tokens_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// TestExpiredTokenConcurrentCallersMakeOneRequest: 200 callers arrive at
// once on an expired token; the token endpoint sees exactly one request and
// every caller gets its token. (How long they wait is a benchmark,
// BenchmarkExpiredTokenConcurrentCallers, not an assertion.)
func TestExpiredTokenConcurrentCallersMakeOneRequest(t *testing.T) {
	const callers = 200
	tests := []struct {
		name        string
		kind        grantKind
		writeBehind bool
		wantToken   string
	}{
		{"user flow refreshes", userRefresh, false, "at-1"},
		{"user flow refreshes, write-behind", userRefresh, true, "at-1"},
		{"machine flow acquires", machine, false, "cc-1"},
		{"machine flow acquires, write-behind", machine, true, "cc-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := startTokenEndpoint(t, 20*time.Millisecond, 3600)
			m := newManager(t, ep, tc.kind, t.TempDir(), managerOptions{writeBehind: tc.writeBehind})
			start := make(chan struct{})
			got := make([]string, callers)
			errs := make([]error, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					tok, err := m.Token(context.Background(), tokens.NoLogin)
					got[i], errs[i] = tok.AccessToken.Reveal(), err
				}()
			}
			close(start)
			wg.Wait()
			assert.Equal(t, int64(1), ep.requests.Load(), "one token request for %d callers", callers)
			for i := range callers {
				require.NoError(t, errs[i], "caller %d", i)
				require.Equal(t, tc.wantToken, got[i], "caller %d", i)
			}
		})
	}
}

// TestRenewalsLeaveNoGoroutinesOrFDs renews a token 1,000 times through the
// real OAuth client and state store (a clock that jumps two hours per call
// makes every token stale) and checks that goroutines and open file
// descriptors come back to where they were.
func TestRenewalsLeaveNoGoroutinesOrFDs(t *testing.T) {
	const (
		renewals  = 1000
		warmUp    = 10
		tolerance = 3
	)
	tests := []struct {
		name        string
		kind        grantKind
		writeBehind bool
	}{
		{"refresh_token grant", userRefresh, false},
		{"refresh_token grant, write-behind", userRefresh, true},
		{"client_credentials grant, write-behind", machine, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := startTokenEndpoint(t, 0, 3600)
			var offset atomic.Int64
			now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
			m := newManager(t, ep, tc.kind, t.TempDir(), managerOptions{now: now, writeBehind: tc.writeBehind})
			renew := func() {
				offset.Add(int64(2 * time.Hour))
				_, err := m.Token(context.Background(), tokens.NoLogin)
				require.NoError(t, err)
				require.NoError(t, m.Flush(context.Background()))
			}
			for range warmUp { // the HTTP connection and the runtime's own goroutines
				renew()
			}
			runtime.GC()
			baseG, baseFD := runtime.NumGoroutine(), openFDs()
			for range renewals {
				renew()
			}
			assert.Equal(t, int64(warmUp+renewals), ep.requests.Load(), "every call renewed the token")
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
