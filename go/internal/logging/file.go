package logging

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/adrg/xdg"

	"github.com/vymalo/opencode-oauth2/go/internal/safefile"
)

// EnvLogFile overrides where the sidecar's log file is written ("none":
// nowhere).
const EnvLogFile = "OPENCODE_OAUTH2_LOG_FILE"

// MaxFileBytes is the size at which the log file is rotated: the current
// file becomes <name>.1 (replacing the previous one), so the log never
// takes more than twice this.
const MaxFileBytes = 1 << 20

// DefaultFile is the sidecar's log file: $OPENCODE_OAUTH2_LOG_FILE, else
// opencode-oauth2/sidecar.log in the XDG state directory. "" means none.
func DefaultFile(getenv func(string) string) string {
	switch v := getenv(EnvLogFile); v {
	case "none":
		return ""
	case "":
		return filepath.Join(xdg.StateHome, "opencode-oauth2", "sidecar.log")
	default:
		return v
	}
}

// RotatingFile appends to a log file, rotating it at MaxFileBytes. Several
// processes may append to the same file: each line is one write to a file
// opened with O_APPEND. It is safe for concurrent use.
type RotatingFile struct {
	path string

	mu   sync.Mutex
	f    *os.File
	size int64
}

// OpenFile opens (creating it and its directory, private to the user) the
// log file at path.
func OpenFile(path string) (*RotatingFile, error) {
	r := &RotatingFile{path: path}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *RotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|safefile.NoFollow, 0o600) // never through a symbolic link
	if err != nil {
		return fmt.Errorf("open log file %s: %w", r.path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("stat log file %s: %w", r.path, err)
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return fmt.Errorf("log file %s is not a regular file", r.path)
	}
	r.f, r.size = f, fi.Size()
	return nil
}

// Write implements io.Writer: one call, one line.
func (r *RotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, errors.New("log file closed")
	}
	if r.size+int64(len(p)) > MaxFileBytes && r.size > 0 {
		r.rotate()
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

// rotate moves the file to <path>.1 and starts a new one. A failure keeps
// writing to the current file.
func (r *RotatingFile) rotate() {
	if err := os.Rename(r.path, r.path+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return
	}
	old := r.f
	if r.open() == nil { // open leaves r.f as it was when it fails
		_ = old.Close()
	}
}

// Close closes the file.
func (r *RotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
