package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// measurement is what `perf-probe measure` reports about one process.
type measurement struct {
	Exit      int     `json:"exit"`
	WallMs    float64 `json:"wallMs"`
	UserMs    float64 `json:"userMs"`
	SysMs     float64 `json:"sysMs"`
	MaxRSSKiB int64   `json:"maxRssKiB"`
}

// runMeasure runs a command (stdin /dev/null, its output passed through)
// and prints, as the last line on stderr, a JSON measurement of that very
// process: wall time, user and system CPU time and peak resident memory
// (wait4's rusage, so its own, plus that of children it waited for).
func runMeasure(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("measure", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return errors.New("measure: usage: perf-probe measure -- <command> [args...]")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	t0 := time.Now()
	err := cmd.Run()
	wall := time.Since(t0)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return fmt.Errorf("measure: %w", err)
	}
	m := measurement{Exit: cmd.ProcessState.ExitCode(), WallMs: float64(wall.Microseconds()) / 1000}
	if err := readUsage(cmd.ProcessState, &m); err != nil {
		return err
	}
	line, _ := json.Marshal(m)
	_, _ = fmt.Fprintf(stderr, "\nperf-probe measure %s\n", line)
	_ = os.Stdout.Sync()
	return nil
}
