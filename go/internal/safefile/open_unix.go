//go:build unix

package safefile

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// NoFollow is the open flag that refuses a symbolic link (0 where there
// is none); nonBlock keeps a FIFO from blocking the open.
const (
	NoFollow = unix.O_NOFOLLOW
	nonBlock = unix.O_NONBLOCK
)

func exposure(fi os.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && int(st.Uid) != os.Geteuid() && st.Uid != 0 {
		return fmt.Sprintf("it belongs to another user (uid %d)", st.Uid)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Sprintf("other users may read or write it (mode %04o; chmod 600 it)", m)
	}
	return ""
}
