// Package cli is the command line of opencode-oauth2: the commands for
// people and CI (one per file, built on cobra) and serve, the sidecar that
// the OpenCode plugin starts.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// Exit codes of the command line (documented in usage and docs/cli.md).
const (
	exitOK            = 0   // success
	exitFailure       = 1   // anything else: network, server, gateway, a failed check
	exitUsage         = 2   // bad command line, unknown provider
	exitLoginRequired = 3   // a person must log in first (token, models --refresh)
	exitConfig        = 4   // the OpenCode config cannot be read, or the provider's config is invalid
	exitInterrupted   = 130 // Ctrl-C (SIGINT) or SIGTERM, as shells report a process killed by SIGINT
)

const exitCodesHelp = `Exit codes:
  0    success
  1    failure (network, server, gateway, a failed check)
  2    usage error (bad flags, unknown provider)
  3    login required: run ` + "`opencode-oauth2 login <provider>`" + `
  4    config problem (unreadable OpenCode config, invalid provider settings, rejected client credentials)
  130  interrupted (Ctrl-C)
`

// usageFormat is the help of the whole command line; %s is the list of
// commands (each command's Use and Short).
const usageFormat = `opencode-oauth2: OAuth2 / OpenID Connect for OpenCode's LLM gateways

Usage:
  opencode-oauth2 <command> [flags] [arguments]
%s
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

// exitError carries an exit code with the message printed for it (none:
// the command printed what it had to say already).
type exitError struct {
	code  int
	err   error
	flags bool // a bad flag: the hint points at the command's flags
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func failf(code int, format string, a ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, a...)}
}

// silent is an exit code whose message was printed already.
func silent(code int) error { return &exitError{code: code} }

// withCode gives err an exit code, unless it has one (or is nil).
func withCode(code int, err error) error {
	if _, ok := errors.AsType[*exitError](err); ok || err == nil {
		return err
	}
	return &exitError{code: code, err: err}
}

// tokenExitCode maps a token error to an exit code.
func tokenExitCode(err error) int {
	switch {
	case errors.Is(err, tokens.ErrLoginRequired), errors.Is(err, tokens.ErrInvalidGrant):
		return exitLoginRequired
	case errors.Is(err, tokens.ErrInvalidClient):
		return exitConfig
	}
	return exitFailure
}

// tokenError words a failed token request: not logged in (exit 3: the
// login to run, or what else to pass), rejected client credentials (exit
// 4), or what failed (exit 1).
func (c *cli) tokenError(p config.Provider, what string, err error, orElse string) error {
	code := tokenExitCode(err)
	if code != exitLoginRequired {
		return withCode(code, explain(what, err))
	}
	why := "" // more than "no login is cached", e.g. the server rejected the refresh token
	if errors.Is(err, tokens.ErrInvalidGrant) {
		why = " (" + err.Error() + ")"
	}
	return failf(code, "not logged in to %s%s: run `%s`%s", displayName(p), why, c.hint("login", p.ID), orElse)
}

// cli is one command-line invocation: its streams and environment.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time
	lookPath       func(string) (string, error) // exec.LookPath, or a test's
	self           func() string                // the program as hints name it: selfCommand, once
	build          Build                        // version and commit
	color          colors                       // highlights on stderr
	logs           *lineHandler                 // the logger's handler, flushed at the end
	usage          string                       // the help of the whole command line
}

func newCLI(stdin io.Reader, stdout, stderr io.Writer) *cli {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv, now: time.Now, lookPath: exec.LookPath, build: Build{Version: "dev"}}
	c.self = sync.OnceValue(func() string { return selfCommand(c.getenv, c.lookPath) })
	return c
}

// commonFlags are accepted by every command that reads the config.
type commonFlags struct {
	config  string
	verbose bool
	noColor bool
}

// run runs the command line and returns its exit code.
func (c *cli) run(args []string) int {
	if len(args) > 0 && args[0] == "--version" {
		args = append([]string{"version"}, args[1:]...)
	}
	root := c.newRootCmd()
	root.SetArgs(append([]string{}, args...)) // never nil: cobra would read os.Args
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	code := exitFailure
	ee := &exitError{}
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			return code
		}
	}
	fmt.Fprintf(c.stderr, "opencode-oauth2 %s: %s\n", cmd.Name(), c.withSelf(err.Error()))
	if code == exitUsage {
		more := "more"
		if ee.flags {
			more = "the flags"
		}
		fmt.Fprintf(c.stderr, "%s\nRun `%s` for %s.\n", c.usageLine(cmd), c.hint(cmd.Name(), "--help"), more)
	}
	return code
}

// newRootCmd is the command line: the commands for people and CI (a file
// per command), help, and serve.
func (c *cli) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use: binaryName, Args: cobra.ArbitraryArgs, SilenceErrors: true, SilenceUsage: true,
		// Without a command, the arguments are --help or a mistake.
		DisableFlagParsing: true,
		CompletionOptions:  cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.RunE = func(_ *cobra.Command, args []string) error {
		if len(args) == 0 {
			fmt.Fprint(c.stderr, c.withSelf(c.usage))
			return silent(exitUsage)
		}
		name := args[0]
		if name == "-h" || name == "--help" {
			fmt.Fprint(c.stdout, c.withSelf(c.usage))
			return nil
		}
		what := "unknown command"
		if strings.HasPrefix(name, "-") {
			what = "unknown flag before the command"
		}
		fmt.Fprintf(c.stderr, "opencode-oauth2: %s %q%s\n%s\nRun `%s` for the commands.\n",
			what, name, didYouMean(name, commandNames(root)), "Usage: "+c.hint("<command> [flags] [arguments]"), c.hint("help"))
		return silent(exitUsage)
	}
	help := &cobra.Command{
		Use: "help [command]", Short: "This help, or a command's.",
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return commandNames(root), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				fmt.Fprint(c.stdout, c.withSelf(c.usage))
				return nil
			}
			if cmd, _, err := root.Find(args[:1]); err == nil && cmd != root {
				c.printHelp(cmd)
				return nil
			}
			fmt.Fprintf(c.stderr, "opencode-oauth2 help: unknown command %q%s\nRun `%s` for the commands.\n",
				args[0], didYouMean(args[0], commandNames(root)), c.hint("help"))
			return silent(exitUsage)
		},
	}
	root.SetHelpCommand(help)
	var list strings.Builder
	for _, group := range []struct {
		title string
		cmds  []*cobra.Command
	}{
		{"Commands for people and CI", []*cobra.Command{c.newLoginCmd(), c.newLogoutCmd(), c.newStatusCmd(), c.newTokenCmd(),
			c.newModelsCmd(), c.newDoctorCmd(), c.newLogsCmd()}},
		{"Other commands", []*cobra.Command{c.newVersionCmd(), c.newCompletionCmd(root), help, c.newServeCmd()}},
	} {
		fmt.Fprintf(&list, "\n%s:\n", group.title)
		for _, cmd := range group.cmds {
			fmt.Fprintf(&list, "  %-30s %s\n", cmd.Use, cmd.Short)
			root.AddCommand(cmd)
		}
	}
	c.usage = fmt.Sprintf(usageFormat, list.String())
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) { c.printHelp(cmd) })
	root.SetFlagErrorFunc(flagError)
	root.SetIn(c.stdin)
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	return root
}

// commandNames are the names of root's commands.
func commandNames(root *cobra.Command) []string {
	var names []string
	for _, cmd := range root.Commands() {
		if !strings.HasPrefix(cmd.Name(), "__") {
			names = append(names, cmd.Name())
		}
	}
	return names
}

// command completes cmd: its body runs with the parsed flags (and the
// common ones, when common), colours, and a context that Ctrl-C or SIGTERM
// cancels (exit 130). A command whose arguments are providers completes
// their ids; one whose Use names no arguments takes none.
func (c *cli) command(cmd *cobra.Command, common bool, body func(ctx context.Context, cf *commonFlags, args []string) error) *cobra.Command {
	cf := &commonFlags{}
	if common {
		fs := cmd.Flags()
		fs.StringVar(&cf.config, "config", "", "read only this OpenCode config `file` instead of searching like OpenCode does")
		fs.BoolVarP(&cf.verbose, "verbose", "v", false, "log what happens (debug level) on stderr")
		fs.BoolVar(&cf.noColor, "no-color", false, "no colours on the terminal (also when NO_COLOR is set)")
	}
	if strings.Contains(cmd.Use, "provider") {
		cmd.ValidArgsFunction = func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
			ids, _ := c.providerIDs(cf)
			return ids, cobra.ShellCompDirectiveNoFileComp
		}
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 && !strings.Contains(cmd.Use, " ") {
			return failf(exitUsage, "%s takes no arguments", cmd.Name())
		}
		c.color = colors{on: !cf.noColor && c.getenv("NO_COLOR") == "" && c.getenv("TERM") != "dumb" && isTTY(c.stderr)}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		go func() {
			<-ctx.Done()
			stop() // a second Ctrl-C ends the process at once
		}()
		err := body(ctx, cf, args)
		if c.logs != nil {
			c.logs.Flush(err)
		}
		if err != nil && ctx.Err() != nil {
			fmt.Fprintf(c.stderr, "\nopencode-oauth2 %s: interrupted\n", cmd.Name())
			return silent(exitInterrupted)
		}
		return err
	}
	return cmd
}

func (c *cli) usageLine(cmd *cobra.Command) string {
	name, args, _ := strings.Cut(cmd.Use, " ")
	return strings.TrimSpace(fmt.Sprintf("Usage: %s %s [flags] %s", c.self(), name, args))
}

// printHelp prints a command's help on stdout: usage, flags, details, exit
// codes; the root's is the usage of the whole command line.
func (c *cli) printHelp(cmd *cobra.Command) {
	if !cmd.HasParent() {
		fmt.Fprint(c.stdout, c.withSelf(c.usage))
		return
	}
	if cmd.DisableFlagParsing { // serve
		fmt.Fprintf(c.stdout, "Usage: %s %s\n\n%s\n", c.self(), cmd.Use, cmd.Long)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%s\n\nFlags:\n%s", c.usageLine(cmd), cmd.Short, cmd.LocalFlags().FlagUsages())
	if cmd.Long != "" {
		fmt.Fprintf(&b, "\n%s", cmd.Long)
	}
	if cmd.Flags().Lookup("config") != nil {
		fmt.Fprintf(&b, "\n%s", exitCodesHelp)
	}
	fmt.Fprintf(&b, "\nDocumentation: %s#%s\n", docsURL, cmd.Name())
	fmt.Fprint(c.stdout, c.withSelf(b.String()))
}

// flagError words a flag parsing error GNU style, with a "did you mean"
// for a mistyped flag: a usage error (exit 2).
func flagError(cmd *cobra.Command, err error) error {
	var unknown *pflag.NotExistError
	var noValue *pflag.ValueRequiredError
	switch {
	case errors.As(err, &unknown) && unknown.GetSpecifiedShortnames() == "":
		var known []string
		cmd.Flags().VisitAll(func(f *pflag.Flag) { known = append(known, f.Name) })
		msg := "unknown flag --" + unknown.GetSpecifiedName()
		if g := config.Suggest(unknown.GetSpecifiedName(), known); g != "" {
			msg += "; did you mean --" + g + "?"
		}
		err = errors.New(msg)
	case errors.As(err, &unknown):
		err = fmt.Errorf("unknown flag -%c", unknown.GetSpecifiedName()[0])
	case errors.As(err, &noValue):
		dashes := "--"
		if noValue.GetSpecifiedShortnames() != "" {
			dashes = "-"
		}
		err = fmt.Errorf("the flag %s%s needs a value", dashes, noValue.GetSpecifiedName())
	}
	return &exitError{code: exitUsage, err: err, flags: true}
}
