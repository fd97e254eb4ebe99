package service

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
)

// TestOpenStore: an unusable cache directory gives a store in memory and an
// error naming the directory, once; a usable one gives the directory.
func TestOpenStore(t *testing.T) {
	t.Setenv(store.EnvCacheDir, "")
	tests := []struct {
		name       string
		option     bool // the directory is the engine's option, not the config's
		file       bool // a regular file stands at the directory's path
		wantMemory bool
	}{
		{"option, usable", true, false, false},
		{"option, a file in the way", true, true, true},
		{"config, usable", false, false, false},
		{"config, a file in the way", false, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache")
			if tc.file {
				require.NoError(t, os.WriteFile(dir, nil, 0o600))
			}
			o := Options{Log: logging.Discard(), WatchEvery: -1}
			configured := dir
			if tc.option {
				o.CacheDir, configured = dir, ""
			}
			e := New(o)
			s, err := e.openStore(configured)
			require.NotNil(t, s, "a store is usable either way")
			if tc.wantMemory {
				require.Error(t, err)
				assert.Contains(t, err.Error(), dir)
				assert.Empty(t, s.Dir(), "the state is in memory")
			} else {
				require.NoError(t, err)
				want, err := filepath.EvalSymlinks(dir)
				require.NoError(t, err)
				assert.Equal(t, want, s.Dir())
			}
			again, err := e.openStore(configured)
			require.NoError(t, err, "the reason is given once")
			assert.Same(t, s, again, "the store is opened once")
		})
	}
}
