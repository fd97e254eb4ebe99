package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
)

func TestHeaders(t *testing.T) {
	eng, idp := newManagedEngine(t)
	tests := []struct {
		name       string
		providerID string
		want       map[string]string
		cacheUntil bool
	}{
		{"managed, fresh token", "gw", map[string]string{"Authorization": "Bearer " + accessToken(1)}, true},
		{"unmanaged", "plain", map[string]string{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := eng.Headers(context.Background(), protocol.HeadersParams{ProviderID: tc.providerID})
			require.NoError(t, err)
			assert.Equal(t, tc.want, res.Headers)
			if !tc.cacheUntil {
				assert.Zero(t, res.CacheUntil)
				return
			}
			until := time.UnixMilli(res.CacheUntil)
			assert.True(t, until.After(time.Now()), "cacheUntil %v is in the future", until)
			assert.False(t, until.After(time.Now().Add(5*time.Minute)), "cacheUntil %v is at most 5 minutes away", until)
		})
	}
	assert.Equal(t, int64(1), idp.tokens.Load(), "the fresh token is served from memory")
}

// TestShutdownLeavesTheTokenOnDisk: requests are answered before the token
// cache is written; Shutdown waits for that write.
func TestShutdownLeavesTheTokenOnDisk(t *testing.T) {
	eng, _ := newManagedEngine(t)
	require.NoError(t, eng.Shutdown(context.Background()))
	p, ok := eng.Provider("gw")
	require.True(t, ok)
	st := p.Entry.Load()
	require.NotNil(t, st.Token)
	assert.Equal(t, accessToken(1), st.Token.AccessToken)
}
