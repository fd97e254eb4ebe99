// Package safefile reads the files a configuration names (a CA bundle, a
// private key, a token, a config file, a {file:...} value): only a regular
// file, at most a given size, and never waiting on one. A FIFO, a device
// such as /dev/zero, a directory or a file larger than the bound is refused
// with an error that names it, before anything is read, so one provider's
// file can neither stall nor exhaust the process that serves the others.
package safefile

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Read returns the content of the regular file at path, of at most limit
// bytes. The error wraps fs.ErrNotExist when there is no such file.
func Read(path string, limit int64) ([]byte, error) {
	return ReadChecked(path, limit, 0, nil)
}

// ReadChecked is Read with more open flags (NoFollow refuses a symbolic
// link) and the caller's own check of the opened file (nil for none), run
// before anything is read.
func ReadChecked(path string, limit int64, flags int, check func(*os.File, fs.FileInfo) error) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|NonBlock|flags, 0) // non-blocking: a FIFO does not wait for a writer
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, cmp.Or(kinds[fi.Mode().Type()], "not a plain file"))
	}
	if check != nil {
		if err := check(f, fi); err != nil {
			return nil, err
		}
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes (%d)", path, limit, fi.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes (it grew while read)", path, limit)
	}
	return data, nil
}

// IsNotExist reports whether err says that the file is missing.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// kinds name the types of file that are not regular files.
var kinds = map[fs.FileMode]string{
	fs.ModeDir: "a directory", fs.ModeNamedPipe: "a FIFO", fs.ModeDevice | fs.ModeCharDevice: "a character device",
	fs.ModeDevice: "a device", fs.ModeSocket: "a socket",
}

// Exposure says why another user could read or replace the file at path
// (a private key, a secret), or "" when nobody but this user (and root)
// can: a symbolic link, another owner, a group or others with access.
func Exposure(path string) string {
	fi, err := os.Lstat(path)
	if err != nil {
		return ""
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return "it is a symbolic link (whoever can change the link chooses the file)"
	}
	return exposure(fi)
}
