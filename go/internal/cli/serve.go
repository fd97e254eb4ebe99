package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/rpc"
	"github.com/vymalo/opencode-oauth2/go/internal/service"
)

// Build is what the build stamped into the binary.
type Build struct {
	Version string // e.g. "1.2.3"; "dev" when not stamped
	Commit  string // the commit built from; "" to use Go's VCS stamp, if any
}

// Run runs the command line with args (without the program's name) on the
// given streams and returns its exit code.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer, b Build) int {
	c := newCLI(stdin, stdout, stderr)
	c.build = b
	return c.run(args)
}

// newServeCmd is the sidecar, which the OpenCode plugin starts.
func (c *cli) newServeCmd() *cobra.Command {
	return &cobra.Command{
		Use: "serve", Hidden: true, DisableFlagParsing: true,
		Short: "The sidecar (started by the OpenCode plugin; JSON-RPC on stdin/stdout).",
		Long:  "Runs the sidecar: the OpenCode plugin starts it and speaks JSON-RPC with it on stdin/stdout (protocol/protocol.md). Not for people.",
		RunE:  func(*cobra.Command, []string) error { return c.serve() },
	}
}

// serve runs the sidecar on the command line's streams until its stdin
// ends (exit 0) or fails (exit 1); on a terminal it refuses (exit 2).
func (c *cli) serve() error {
	// A character device (a terminal, or /dev/null): either way there is no
	// plugin on the other side. (A nil *os.File's Stat fails.)
	f, _ := c.stdin.(*os.File)
	if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		fmt.Fprint(c.stderr, "opencode-oauth2 serve speaks a protocol on stdin/stdout and is started by the OpenCode plugin.\n"+
			"To log in or inspect tokens yourself, use the other commands; see `opencode-oauth2 --help`.\n")
		return silent(exitUsage)
	}
	// stderr and OpenCode's log (the forwarder) get warnings and errors;
	// the sidecar's own log file the lifecycle too (`opencode-oauth2 logs`).
	level := c.logLevel()
	var file io.Writer
	if path := logging.DefaultFile(c.getenv); path != "" {
		if f, err := logging.OpenFile(path); err != nil {
			fmt.Fprintf(c.stderr, "opencode-oauth2: no log file (%v); logging to stderr only\n", err)
		} else {
			defer f.Close()
			file = f
		}
	}
	log, sink := logging.NewWithFile(c.stderr, level, file, min(level, slog.LevelInfo))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()

	eng := service.NewHub(service.Options{Log: log, Sink: sink, Version: c.build.Version})
	// Ctrl-C at the terminal reaches the whole foreground process group,
	// this process too: it cancels the logins under way (OpenCode then
	// starts without them) and never stops the sidecar, which ends when
	// OpenCode closes its stdin.
	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, os.Interrupt)
	defer signal.Stop(interrupts)
	go func() {
		for range interrupts {
			eng.CancelLogins()
		}
	}()
	err := rpc.NewServer(eng, c.build.Version, log).Serve(ctx, c.stdin, c.stdout)
	sink.SetForwarder(nil)
	_ = eng.Shutdown(context.Background())
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("sidecar stopped", "err", err)
		return silent(exitFailure)
	}
	log.Debug("sidecar stopped")
	return nil
}
