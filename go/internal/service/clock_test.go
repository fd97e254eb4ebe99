package service_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
	"github.com/vymalo/opencode-oauth2/go/internal/service"
)

// TestInjectedClock: Options.Now is the clock of the headers' cache bound,
// of the token's expiry (OAuth client and token manager) and of the model
// sync. The clock runs years ahead of the real one, so that any reading of
// the real clock shows.
func TestInjectedClock(t *testing.T) {
	start := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(start.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()).UTC() }

	idp := startFlakyIdP(t)
	eng := service.New(service.Options{Log: logging.Discard(), CacheDir: t.TempDir(), WatchEvery: -1, Now: now})
	t.Cleanup(func() { _ = eng.Shutdown(context.Background()) })
	raw := machineProvider(t, idp.srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := eng.ApplyConfig(ctx, protocol.ConfigApplyParams{Config: raw})
	require.NoError(t, err)
	require.Equal(t, []string{"gw"}, res.Managed, "%v", res.Problems)
	p, ok := eng.Provider("gw")
	require.True(t, ok)
	assert.Equal(t, start, p.Entry.Load().LastSyncAt.UTC(), "the start-up sync is dated by the injected clock")

	tests := []struct {
		name      string
		advance   time.Duration
		wantToken string
	}{
		{"fresh when obtained", 0, "Bearer new-at-1"},
		{"still fresh within its hour", 50 * time.Minute, "Bearer new-at-1"},
		{"renewed once expired on the injected clock", 2 * time.Hour, "Bearer new-at-2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock.Add(int64(tc.advance))
			h, err := eng.Headers(ctx, protocol.HeadersParams{ProviderID: "gw"})
			require.NoError(t, err)
			assert.Equal(t, tc.wantToken, h.Headers["Authorization"])
			assert.Equal(t, now().Add(5*time.Minute).UnixMilli(), h.CacheUntil, "cached for 5 minutes of the injected clock")
			require.NoError(t, p.Sync(ctx))
			assert.Equal(t, now(), p.Entry.Load().LastSyncAt.UTC(), "the sync is dated by the injected clock")
		})
	}
}
