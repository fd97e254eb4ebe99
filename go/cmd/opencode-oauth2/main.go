// Command opencode-oauth2 is the sidecar of the OpenCode plugin
// @vymalo/opencode-oauth2 (`serve`, started by the plugin) and the command
// line for people and CI.
package main

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

	"github.com/vymalo/opencode-oauth2/go/internal/engine"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/rpc"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `opencode-oauth2: OAuth2 / OpenID Connect for OpenCode's LLM gateways

Usage:
  opencode-oauth2 <command> [flags] [arguments]

Commands for people and CI:
  login [provider]               log in now (browser, or --device for a code to enter elsewhere)
  logout <provider>... | --all   delete the cached tokens and revoke them at the server
  status [provider...]           cached logins and models of each provider (--json)
  token <provider>               print a valid access token (--header: the Authorization line)
  models <provider>              the gateway's models with display names (--refresh, --json)
  doctor [provider...]           check config, servers, clock, cache and gateway; say what to fix
  logs [-n N]                    the sidecar's recent log lines (what the plugin did in OpenCode)

Other commands:
  version                        version, commit, Go, protocol and platform (--json)
  completion bash|zsh|fish       print a shell completion script
  help [command]                 this help, or a command's
  serve                          the sidecar (started by the OpenCode plugin; JSON-RPC on stdin/stdout)

Every command takes --help. The commands that read the config also take --config FILE
(read only this OpenCode config instead of finding it as OpenCode does), --verbose and
--no-color. Output meant for scripts (tokens, tables, JSON) goes to stdout; messages go
to stderr.

` + exitCodesHelp + `
Environment:
  OPENCODE_OAUTH2_CACHE_DIR  token and model cache directory (wins over the config's cacheDir;
                             default: <user cache dir>/opencode-oauth2)
  OPENCODE_OAUTH2_LOG_LEVEL  log level on stderr: debug, info, warn, error (default: info for serve, warn for commands)
  OPENCODE_OAUTH2_BROWSER    command that opens the login URL, or "none"
  NO_COLOR                   no colours on the terminal (like --no-color)
  OPENCODE_CONFIG, OPENCODE_CONFIG_CONTENT, OPENCODE_CONFIG_DIR, XDG_CONFIG_HOME
                             where the OpenCode config is found, as in OpenCode

Documentation: ` + docsURL + `
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return newCLI(stdin, stdout, stderr).run(args)
}

// newServeCmd is the sidecar, which the OpenCode plugin starts.
func (c *cli) newServeCmd() *cobra.Command {
	return &cobra.Command{
		Use: "serve", Hidden: true, DisableFlagParsing: true,
		Short: "The sidecar (started by the OpenCode plugin; JSON-RPC on stdin/stdout).",
		Long:  "Runs the sidecar: the OpenCode plugin starts it and speaks JSON-RPC with it on stdin/stdout (protocol/protocol.md). Not for people.",
		RunE: func(*cobra.Command, []string) error {
			if code := serve(c.stdin, c.stdout, c.stderr); code != exitOK {
				return silent(code)
			}
			return nil
		},
	}
}

func serve(stdin io.Reader, stdout, stderr io.Writer) int {
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(stderr, "opencode-oauth2 serve speaks a protocol on stdin/stdout and is started by the OpenCode plugin.\n"+
			"To log in or inspect tokens yourself, use the other commands; see `opencode-oauth2 --help`.\n")
		return 2
	}
	// stderr and OpenCode's log (the forwarder) get warnings and errors;
	// the sidecar's own log file the lifecycle too (`opencode-oauth2 logs`).
	level, ok := logging.ParseLevel(os.Getenv("OPENCODE_OAUTH2_LOG_LEVEL"))
	if !ok {
		level = slog.LevelWarn
	}
	var file io.Writer
	if path := logging.DefaultFile(os.Getenv); path != "" {
		if f, err := logging.OpenFile(path); err != nil {
			fmt.Fprintf(stderr, "opencode-oauth2: no log file (%v); logging to stderr only\n", err)
		} else {
			defer f.Close()
			file = f
		}
	}
	log, sink := logging.NewWithFile(stderr, level, file, min(level, slog.LevelInfo))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()

	eng := engine.NewHub(engine.Options{Log: log, Sink: sink, Version: version})
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
