package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
)

// Names under which people run the command line.
const (
	binaryName  = "opencode-oauth2"
	packageName = "@vymalo/opencode-oauth2"
	docsURL     = "https://github.com/vymalo/opencode-oauth2/blob/main/docs/cli.md"
)

// isTTY reports whether w is a terminal (not a pipe, a file or /dev/null).
func isTTY(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// envCommand names this program for hints when its launcher knows better
// than PATH (npx puts the package's bin on PATH for one run only).
const envCommand = "OPENCODE_OAUTH2_COMMAND"

// selfCommand is how a hint names this program so that it works as typed
// where the user is: what the launcher says (envCommand), else the bare
// name when a program of that name is on PATH, else through npx, which
// fetches the npm package's launcher.
func selfCommand(getenv func(string) string, lookPath func(string) (string, error)) string {
	if v := strings.TrimSpace(getenv(envCommand)); v != "" {
		return v
	}
	if _, err := lookPath(binaryName); err == nil {
		return binaryName
	}
	return "npx " + packageName
}

// hint is a command line to suggest, e.g. c.hint("login", "acme").
func (c *cli) hint(args ...string) string {
	return strings.Join(append([]string{c.self()}, args...), " ")
}

func (c *cli) self() string {
	if c.selfName == "" {
		c.selfName = selfCommand(c.getenv, c.lookPath)
	}
	return c.selfName
}

// withSelf puts the program's name as it works here into a help text
// written with "opencode-oauth2 " in its examples.
func (c *cli) withSelf(text string) string {
	if c.self() == binaryName {
		return text
	}
	for _, q := range []string{"`", "$(", "  "} {
		text = strings.ReplaceAll(text, q+binaryName+" ", q+c.self()+" ")
	}
	return text
}

// didYouMean is `; did you mean "x"?` for the known word closest to word,
// or "".
func didYouMean(word string, known []string) string {
	if g := config.Suggest(word, known); g != "" && g != word {
		return fmt.Sprintf("; did you mean %q?", g)
	}
	return ""
}

// colors renders the few highlights of the command line: only on a
// terminal, and never when NO_COLOR is set (https://no-color.org) or
// --no-color is given.
type colors struct{ on bool }

func newColors(w io.Writer, getenv func(string) string, noColor bool) colors {
	return colors{on: !noColor && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb" && isTTY(w)}
}

func (k colors) wrap(code, s string) string {
	if !k.on || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (k colors) bold(s string) string   { return k.wrap("1", s) }
func (k colors) red(s string) string    { return k.wrap("31", s) }
func (k colors) green(s string) string  { return k.wrap("32", s) }
func (k colors) yellow(s string) string { return k.wrap("33", s) }
func (k colors) dim(s string) string    { return k.wrap("2", s) }
