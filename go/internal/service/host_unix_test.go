//go:build unix

package service

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
)

// TestHostVersionIsNotBlockedByAFIFO: a FIFO where the host's package.json
// would be gives no version and does not wait for a writer (the read would
// otherwise block initialize for ever).
func TestHostVersionIsNotBlockedByAFIFO(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	require.NoError(t, unix.Mkfifo(filepath.Join(dir, "package.json"), 0o600))
	done := make(chan string, 1)
	go func() {
		done <- hostVersion(protocol.InitializeParams{HostPath: filepath.Join(dir, "bin", "opencode")}, func(string) string { return "" })
	}()
	select {
	case v := <-done:
		assert.Empty(t, v)
	case <-time.After(30 * time.Second): // a hang, not a timing: the read returns at once
		t.Fatal("hostVersion blocked on a FIFO")
	}
}
