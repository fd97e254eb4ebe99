//go:build windows

package store

import (
	"errors"
	"os"

	"github.com/vymalo/opencode-oauth2/go/internal/safefile"

	"golang.org/x/sys/windows"
)

// On Windows the per-user cache directory (%LOCALAPPDATA%) is protected by
// its ACL; modes are not meaningful.
func inspectDir(dir string, _ bool) (string, error) { return dir, nil }

func openLock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

func readFile(path string, limit int64) ([]byte, error) {
	return safefile.Read(path, limit)
}

func syncDir(string) {}

func tryLock(f *os.File) (bool, error) {
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, new(windows.Overlapped))
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING) {
		return false, nil // held by another process: try again
	}
	return err == nil, err
}

func unlockFile(f *os.File) error {
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, new(windows.Overlapped))
}
