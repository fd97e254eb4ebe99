// Command opencode-oauth2 is the sidecar of the OpenCode plugin
// @vymalo/opencode-oauth2 (`serve`, started by the plugin) and the command
// line for people and CI.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vymalo/opencode-oauth2/go/internal/engine"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/rpc"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `opencode-oauth2: OAuth2 / OpenID Connect for OpenCode's LLM gateways

Usage:
  opencode-oauth2 serve      run the sidecar (started by the OpenCode plugin; speaks JSON-RPC on stdin/stdout)
  opencode-oauth2 version    print the version

Environment:
  OPENCODE_OAUTH2_CACHE_DIR  token and model cache directory (default: <user cache dir>/opencode-oauth2)
  OPENCODE_OAUTH2_LOG_LEVEL  stderr log level before the plugin sets one: debug, info, warn, error
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "opencode-oauth2: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func serve(stdin io.Reader, stdout, stderr io.Writer) int {
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(stderr, "opencode-oauth2 serve speaks a protocol on stdin/stdout and is started by the OpenCode plugin.\n"+
			"To log in or inspect tokens yourself, use the other commands; see `opencode-oauth2 --help`.\n")
		return 2
	}
	level, _ := logging.ParseLevel(os.Getenv("OPENCODE_OAUTH2_LOG_LEVEL"))
	log, sink := logging.New(stderr, level)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	eng := engine.New(engine.Options{Log: log, Sink: sink})
	srv := rpc.NewServer(eng, version, log)
	err := srv.Serve(ctx, stdin, stdout)
	sink.SetForwarder(nil)
	_ = eng.Shutdown(context.Background())
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("sidecar stopped", "err", err)
		return 1
	}
	log.Debug("sidecar stopped")
	return 0
}

// isTerminal reports whether f is a character device (a terminal, or
// /dev/null): either way there is no plugin on the other side.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
