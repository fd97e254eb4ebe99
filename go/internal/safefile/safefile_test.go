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
