package safefile

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadRefusesWhatIsNotABoundedRegularFile(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(plain, []byte("pem"), 0o600))
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, []byte(strings.Repeat("x", 11)), 0o600))
	fifo := filepath.Join(dir, "fifo")
	if runtime.GOOS != "windows" {
		require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	}
	tests := []struct {
		name, path, want string
	}{
		{"a regular file", plain, ""},
		{"a directory", dir, "is not a regular file (a directory)"},
		{"a file over the bound", big, "is larger than 10 bytes (11)"},
		{"a missing file", filepath.Join(dir, "none"), "no such file"},
		{"a FIFO with no writer", fifo, "is not a regular file (a FIFO)"},
		{"an endless device", "/dev/zero", "is not a regular file (a character device)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if runtime.GOOS == "windows" && (tc.path == fifo || tc.path == "/dev/zero") {
				t.Skip("no FIFO or /dev/zero on Windows")
			}
			done := make(chan struct{})
			var data []byte
			var err error
			go func() {
				data, err = Read(tc.path, 10)
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Read waited on the file")
			}
			if tc.want == "" {
				require.NoError(t, err)
				assert.Equal(t, "pem", string(data))
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := Read(filepath.Join(dir, "none"), 10)
	assert.True(t, IsNotExist(err))
}

func TestExposureOfAPrivateFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("owner and mode bits are Unix's")
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(key, []byte("k"), 0o600))
	link := filepath.Join(dir, "link.pem")
	require.NoError(t, os.Symlink(key, link))
	open := filepath.Join(dir, "open.pem")
	require.NoError(t, os.WriteFile(open, []byte("k"), 0o600))
	require.NoError(t, os.Chmod(open, 0o664))
	tests := []struct{ name, path, want string }{
		{"this user's, mode 600", key, ""},
		{"a symbolic link", link, "symbolic link"},
		{"readable and writable by others", open, "other users may read or write it (mode 0664"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Exposure(tc.path)
			if tc.want == "" {
				assert.Empty(t, got)
				return
			}
			assert.Contains(t, got, tc.want)
		})
	}
	if os.Geteuid() == 0 {
		other := filepath.Join(dir, "other.pem")
		require.NoError(t, os.WriteFile(other, []byte("k"), 0o600))
		require.NoError(t, os.Chown(other, 65534, 65534))
		assert.Contains(t, Exposure(other), "belongs to another user (uid 65534)")
	}
}
