//go:build !windows

package store

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// foreignUID is a user id that is not this process's.
const foreignUID = 12345

// TestStateFileIsCheckedBeforeUse: what sits at a state file's path is read
// only when it is a regular file of this user (a symbolic link is not
// followed, a FIFO does not block, a directory, a file of another user or a
// file larger than the bound is ignored with a warning, never read), and a
// later Save replaces it without writing through it.
func TestStateFileIsCheckedBeforeUse(t *testing.T) {
	tests := []struct {
		name   string
		plant  func(t *testing.T, path string)
		reason string // in the warning
	}{
		{"symbolic link to another file", func(t *testing.T, path string) {
			target := filepath.Join(t.TempDir(), "elsewhere.json")
			require.NoError(t, os.WriteFile(target, []byte(`{"version":1,"providerID":"p","key":"k","token":{"accessToken":"planted"}}`), 0o600))
			require.NoError(t, os.Symlink(target, path))
		}, "symbolic link"}, // O_NOFOLLOW: "too many levels of symbolic links"
		{"FIFO", func(t *testing.T, path string) {
			require.NoError(t, syscall.Mkfifo(path, 0o600))
		}, "not a regular file"},
		{"directory", func(t *testing.T, path string) {
			require.NoError(t, os.Mkdir(path, 0o700))
		}, "not a regular file"},
		{"larger than the bound", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
			require.NoError(t, err)
			require.NoError(t, f.Truncate(maxStateFile+1)) // sparse: nothing is written
			require.NoError(t, f.Close())
		}, "larger than"},
		{"owned by another user", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte(`{"version":1,"providerID":"p","key":"k","token":{"accessToken":"planted"}}`), 0o600))
			chownOrLink(t, path)
		}, "not by this user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, logs := open(t)
			e := s.Entry("p", "k")
			tc.plant(t, e.Path())
			st := e.Load()
			assert.Nil(t, st.Token, "nothing planted is used")
			assert.Contains(t, logs.String(), "cache file unreadable; ignoring it")
			assert.Contains(t, logs.String(), tc.reason)
			if tc.name == "directory" {
				return // a directory cannot be replaced by rename; Save fails cleanly
			}
			require.NoError(t, e.Save(State{Token: &Token{AccessToken: "mine"}}))
			fi, err := os.Lstat(e.Path())
			require.NoError(t, err)
			assert.True(t, fi.Mode().IsRegular(), "Save replaced what was planted with a regular file")
			assert.Equal(t, "mine", e.Load().Token.AccessToken)
		})
	}
}

// chownOrLink makes path a file owned by another user: by chown when this
// process may (root, as in CI), else by replacing it with a hard link to a
// file owned by root.
func chownOrLink(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() == 0 {
		require.NoError(t, os.Chown(path, foreignUID, foreignUID))
		return
	}
	require.NoError(t, os.Remove(path))
	for _, candidate := range []string{"/etc/hostname", "/etc/hosts", "/etc/passwd"} {
		if os.Link(candidate, path) == nil {
			return
		}
	}
	t.Fatalf("cannot make a file owned by another user here (not root, and hard links to root's files are refused)")
}

// TestForeignCacheDirectoryIsRefused: a cache directory another user owns
// (say, one pre-created in /tmp to collect tokens) is refused, and the
// engine then keeps the state in memory (engine.openStore).
func TestForeignCacheDirectoryIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shared")
	require.NoError(t, os.Mkdir(dir, 0o777))
	if os.Geteuid() == 0 {
		require.NoError(t, os.Chown(dir, foreignUID, foreignUID))
	} else {
		dir = "/" // owned by root on every Unix system
	}
	_, err := Open(dir, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not by this user; refusing to keep tokens there")
}
