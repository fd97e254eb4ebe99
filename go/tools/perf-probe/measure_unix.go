//go:build unix

package main

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// readUsage fills m from the process's rusage (wait4).
func readUsage(ps *os.ProcessState, m *measurement) error {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return errors.New("measure: no resource usage")
	}
	m.UserMs = float64(time.Duration(ru.Utime.Nano()).Microseconds()) / 1000
	m.SysMs = float64(time.Duration(ru.Stime.Nano()).Microseconds()) / 1000
	m.MaxRSSKiB = ru.Maxrss // KiB on Linux
	return nil
}
