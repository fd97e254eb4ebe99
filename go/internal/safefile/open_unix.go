//go:build unix

package safefile

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// NoFollow is the open flag that refuses a symbolic link (0 where there
// is none); NonBlock keeps a FIFO from blocking the open (0 where there
// is none).
const (
	NoFollow = unix.O_NOFOLLOW
	NonBlock = unix.O_NONBLOCK
)

// Owner is the uid of the file's owner (-1 when unknown).
func Owner(fi os.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

func exposure(fi os.FileInfo) string {
	if o := Owner(fi); o > 0 && o != os.Geteuid() {
		return fmt.Sprintf("it belongs to another user (uid %d)", o)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Sprintf("other users may read or write it (mode %04o; chmod 600 it)", m)
	}
	return ""
}
