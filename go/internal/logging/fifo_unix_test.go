//go:build unix

package logging

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLogFileIsNeverAFIFO: a FIFO planted at the log path fails the open at
// once, with or without a reader, instead of holding the sidecar's start.
func TestLogFileIsNeverAFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "opencode-oauth2.log")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	done := make(chan error, 1)
	go func() {
		f, err := OpenFile(path)
		if err == nil {
			_ = f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		require.Contains(t, err.Error(), path)
	case <-time.After(10 * time.Second):
		t.Fatal("opening a FIFO as the log file is still waiting for a reader")
	}
}
