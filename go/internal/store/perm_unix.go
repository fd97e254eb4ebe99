//go:build !windows

package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vymalo/opencode-oauth2/go/internal/safefile"

	"golang.org/x/sys/unix"
)

// inspectDir makes sure dir is a directory only this user controls and
// returns the path to use (a symbolic link of ours resolved). Ownership is
// checked without following links (Lstat), and so is the mode change: a
// link planted by another user, or a directory in one that another user
// owns or anyone may write to (without the sticky bit), is refused before
// anything is written or chmod-ed there. tighten says whether a too-open
// directory of this user is made 0700 (Open) or left as it is (CheckDir).
func inspectDir(dir string, tighten bool) (string, error) {
	uid := os.Geteuid()
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", fmt.Errorf("cache directory %s: %w", dir, err)
	}
	real := dir
	if fi.Mode()&os.ModeSymlink != 0 {
		if o := safefile.Owner(fi); o != uid {
			return "", fmt.Errorf("cache directory %s is a symbolic link owned by uid %d, not by this user; refusing to keep tokens there", dir, o)
		}
		if err := checkParent(dir, uid); err != nil {
			return "", err
		}
		if real, err = filepath.EvalSymlinks(dir); err != nil {
			return "", fmt.Errorf("cache directory %s: %w", dir, err)
		}
	}
	if err := checkParent(real, uid); err != nil {
		return "", err
	}
	f, err := os.OpenFile(real, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return "", fmt.Errorf("cache directory %s: %w", dir, err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return "", fmt.Errorf("cache directory %s: %w", dir, err)
	}
	if o := safefile.Owner(fi); o != uid {
		return "", fmt.Errorf("cache directory %s is owned by uid %d, not by this user; refusing to keep tokens there", dir, o)
	}
	if tighten && fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o700); err != nil {
			return "", fmt.Errorf("tighten cache directory %s to 0700: %w", dir, err)
		}
	}
	return real, nil
}

// checkParent refuses a path whose directory another user (root aside) owns
// or anyone may write to without the sticky bit: they could swap the entry.
func checkParent(path string, uid int) error {
	parent := filepath.Dir(path)
	fi, err := os.Stat(parent)
	if err != nil {
		return fmt.Errorf("cache directory %s: %w", path, err)
	}
	if o := safefile.Owner(fi); o != uid && o != 0 {
		return fmt.Errorf("cache directory %s is in %s, a directory of another user (uid %d); refusing to keep tokens there", path, parent, o)
	}
	if fi.Mode().Perm()&0o002 != 0 && fi.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("cache directory %s is in %s, which anyone may write to; refusing to keep tokens there", path, parent)
	}
	return nil
}

// openLock opens (creating) a lock file, never through a symbolic link,
// and only a regular file of this user.
func openLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && (!fi.Mode().IsRegular() || safefile.Owner(fi) != os.Geteuid()) {
		err = fmt.Errorf("%s is not a regular file of this user", path)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// readFile reads a state file after checking it is a regular file owned by
// this user and readable by nobody else (tightening the mode if needed).
// A symbolic link is not followed, and O_NONBLOCK keeps a FIFO planted in
// its place from blocking the open until a writer comes.
func readFile(path string, limit int64) ([]byte, error) {
	return safefile.ReadChecked(path, limit, safefile.NoFollow, func(f *os.File, fi os.FileInfo) error {
		if o := safefile.Owner(fi); o != os.Geteuid() {
			return fmt.Errorf("owned by uid %d, not by this user", o)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := f.Chmod(0o600); err != nil {
				return fmt.Errorf("mode %v is too open and could not be tightened: %w", fi.Mode().Perm(), err)
			}
		}
		return nil
	})
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

func tryLock(f *os.File) (bool, error) {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) || errors.Is(err, unix.EINTR) {
		return false, nil // held by another process, or interrupted: try again
	}
	return err == nil, err
}

func unlockFile(f *os.File) error { return unix.Flock(int(f.Fd()), unix.LOCK_UN) }
