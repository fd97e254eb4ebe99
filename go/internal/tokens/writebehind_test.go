package tokens

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
)

// TestFlushMakesTheWriteVisible: with or without WriteBehind, once Token
// and Flush have returned, the new token is in the cache file, for each kind
// of renewal; OnChange ran for the login only (a renewal's callers get the
// new token themselves: invalidating it would waste their next request).
func TestFlushMakesTheWriteVisible(t *testing.T) {
	tests := []struct {
		name        string
		userFlow    bool
		mode        Mode
		seedRefresh bool
		writeBehind bool
		want        string
		changes     int32
	}{
		{"machine grant, write-through", false, NoLogin, false, false, "acq-1", 0},
		{"machine grant, write-behind", false, NoLogin, false, true, "acq-1", 0},
		{"refresh, write-through", true, NoLogin, true, false, "ref-1", 0},
		{"refresh, write-behind", true, NoLogin, true, true, "ref-1", 0},
		{"login, write-behind", true, AllowLogin, false, true, "acq-1", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entry := newEntry(t, t.TempDir())
			if tc.seedRefresh {
				require.NoError(t, entry.Save(store.State{Token: &store.Token{AccessToken: "old", RefreshToken: "rt-0", ExpiresAt: time.Now().Add(-time.Minute)}}))
			}
			var changes atomic.Int32
			m := NewManager(Options{
				ProviderID: "acme", Grant: &fakeGrant{lifetime: time.Hour}, Entry: entry, Log: logging.Discard(),
				Policy: Policy{Skew: 30 * time.Second, UserFlow: tc.userFlow}, WriteBehind: tc.writeBehind,
				OnChange: func() { changes.Add(1) },
			})
			tok, err := m.Token(context.Background(), tc.mode)
			require.NoError(t, err)
			assert.Equal(t, tc.want, tok.AccessToken.Reveal())
			require.NoError(t, m.Flush(context.Background()))
			st := entry.Load()
			require.NotNil(t, st.Token)
			assert.Equal(t, tc.want, st.Token.AccessToken)
			assert.Equal(t, tc.changes, changes.Load())
			require.NoError(t, m.Flush(context.Background()), "nothing under way: at once")
		})
	}
}

// TestFlushHonoursItsContext: a flight that cannot finish does not hold
// Flush past its caller's deadline.
func TestFlushHonoursItsContext(t *testing.T) {
	g := &fakeGrant{lifetime: time.Hour, gate: make(chan struct{})}
	m := NewManager(Options{ProviderID: "acme", Grant: g, Entry: newEntry(t, t.TempDir()), Log: logging.Discard(), WriteBehind: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.Token(ctx, NoLogin) // starts the flight, which waits at the gate
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, m.Flush(ctx), context.Canceled)
	close(g.gate)
	require.NoError(t, m.Flush(context.Background()))
	assert.Equal(t, "acq-1", m.Cached().AccessToken.Reveal())
}
