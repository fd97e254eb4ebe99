//go:build !windows

package logging

import (
	"os"
	"syscall"
)

// openAppend opens path for appending, never through a symbolic link.
func openAppend(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
}
