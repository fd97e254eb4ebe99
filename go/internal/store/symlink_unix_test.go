//go:build !windows

package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPlantedCacheDirectorySymlinkIsRefused: another user who controls a
// directory on the cache path (a symbolic link they own, or a directory
// they own or anyone may write to) could redirect the token files or swap
// the directory later. Ownership is checked without following the link
// (Lstat), such a directory is refused before anything is written or
// chmod-ed, and the lock file is not opened through a symbolic link.
func TestPlantedCacheDirectorySymlinkIsRefused(t *testing.T) {
	foreign := func(t *testing.T, path string) {
		t.Helper()
		if os.Geteuid() == 0 {
			require.NoError(t, os.Lchown(path, foreignUID, foreignUID))
			return
		}
		// Without root, a directory anyone may write to stands in for one
		// another user controls.
		require.NoError(t, os.Chmod(filepath.Dir(path), 0o777))
	}
	tests := []struct {
		name   string
		plant  func(t *testing.T, base string) (cacheDir, target string)
		reason string
	}{
		{"symbolic link of another user", func(t *testing.T, base string) (string, string) {
			target := filepath.Join(base, "mine")
			require.NoError(t, os.Mkdir(target, 0o755))
			parent := filepath.Join(base, "shared")
			require.NoError(t, os.Mkdir(parent, 0o700))
			require.NoError(t, os.Chmod(parent, 0o777|os.ModeSticky)) // like /tmp
			link := filepath.Join(parent, "opencode-oauth2")
			require.NoError(t, os.Symlink(target, link))
			foreign(t, link)
			return link, target
		}, "symbolic link"},
		{"inside a directory of another user", func(t *testing.T, base string) (string, string) {
			parent := filepath.Join(base, "theirs")
			require.NoError(t, os.Mkdir(parent, 0o755))
			dir := filepath.Join(parent, "opencode-oauth2")
			require.NoError(t, os.Mkdir(dir, 0o755))
			if os.Geteuid() == 0 {
				require.NoError(t, os.Chown(parent, foreignUID, foreignUID))
			} else {
				require.NoError(t, os.Chmod(parent, 0o777))
			}
			return dir, dir
		}, "another user"},
		{"inside a directory anyone may write to (no sticky bit)", func(t *testing.T, base string) (string, string) {
			parent := filepath.Join(base, "open")
			require.NoError(t, os.Mkdir(parent, 0o777))
			require.NoError(t, os.Chmod(parent, 0o777))
			dir := filepath.Join(parent, "opencode-oauth2")
			require.NoError(t, os.Mkdir(dir, 0o755))
			return dir, dir
		}, "anyone may write"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, target := tc.plant(t, t.TempDir())
			_, err := Open(dir, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "refusing to keep tokens there")
			if os.Geteuid() == 0 {
				assert.Contains(t, err.Error(), tc.reason)
			}
			fi, err := os.Stat(target)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm(), "the target's mode was not changed")
			entries, err := os.ReadDir(target)
			require.NoError(t, err)
			assert.Empty(t, entries, "nothing was written there")
		})
	}

	t.Run("a link of our own in a private directory is followed", func(t *testing.T) {
		base := t.TempDir()
		target := filepath.Join(base, "real")
		require.NoError(t, os.Mkdir(target, 0o700))
		link := filepath.Join(base, "link")
		require.NoError(t, os.Symlink(target, link))
		s, err := Open(link, nil)
		require.NoError(t, err)
		require.NoError(t, s.Entry("p", "k").Save(State{Token: &Token{AccessToken: "at"}}))
		_, err = os.Stat(filepath.Join(target, "p-k.json"))
		assert.NoError(t, err)
	})

	t.Run("the lock file is not opened through a symbolic link", func(t *testing.T) {
		s, _ := open(t)
		e := s.Entry("p", "k")
		victim := filepath.Join(t.TempDir(), "victim")
		require.NoError(t, os.Symlink(victim, e.Path()+".lock"))
		_, err := e.Lock(testContext(t))
		require.Error(t, err)
		_, err = os.Lstat(victim)
		assert.True(t, os.IsNotExist(err), "nothing was created through the link")
	})
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
