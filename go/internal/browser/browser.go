// Package browser opens a URL in the user's web browser with the platform's
// opener (xdg-open, open, rundll32), or with the command named by
// OPENCODE_OAUTH2_BROWSER ("none" disables opening). The opener runs without
// a shell, with its output on stderr (stdout carries the sidecar's protocol)
// and its stdin closed; its exit status is awaited for a short time so that
// a failing opener is reported and the caller can show the URL instead.
package browser

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// EnvVar names the environment variable that overrides the opener: a command
// (split on spaces, with '…' or "…" quoting, no shell) run with the URL as its
// last argument, or "none" to never open a browser.
const EnvVar = "OPENCODE_OAUTH2_BROWSER"

// DefaultExitWait is how long Open waits for the opener's exit status.
const DefaultExitWait = 3 * time.Second

var (
	// ErrDisabled: OPENCODE_OAUTH2_BROWSER=none.
	ErrDisabled = errors.New("opening a browser is disabled (" + EnvVar + "=none)")
	// ErrNoDisplay: a Unix session without DISPLAY or WAYLAND_DISPLAY (e.g. SSH).
	ErrNoDisplay = errors.New("no graphical session (DISPLAY and WAYLAND_DISPLAY are not set)")
)

// Opener opens URLs. The zero value uses the process environment.
type Opener struct {
	Getenv   func(string) string          // default os.Getenv
	LookPath func(string) (string, error) // default exec.LookPath
	GOOS     string                       // default runtime.GOOS
	Stderr   io.Writer                    // opener output; default os.Stderr
	ExitWait time.Duration                // default DefaultExitWait
}

// Open opens rawURL, an http or https URL. It returns nil when the opener
// exited with status 0 or is still running after ExitWait (it is then taken
// to be the browser itself), and an error when the URL should be shown to
// the user instead. A running opener is never killed, even when ctx ends.
func (o Opener) Open(ctx context.Context, rawURL string) error {
	if err := checkURL(rawURL); err != nil {
		return err
	}
	argv, err := o.Command(rawURL)
	if err != nil {
		return err
	}
	// Not CommandContext: the browser outlives ctx. Stdin stays nil
	// (/dev/null): never the protocol's stdin.
	cmd := exec.Command(argv[0], argv[1:]...)
	out := cmp.Or(o.Stderr, io.Writer(os.Stderr))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }() // also reaps an opener that outlives us
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s failed: %w", argv[0], err)
		}
		return nil
	case <-time.After(cmp.Or(max(o.ExitWait, 0), DefaultExitWait)):
		return nil
	case <-ctx.Done():
		return fmt.Errorf("open browser: %w", ctx.Err())
	}
}

// Command returns the argv that opens rawURL on this platform.
func (o Opener) Command(rawURL string) ([]string, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if v := strings.TrimSpace(getenv(EnvVar)); v != "" {
		if strings.EqualFold(v, "none") {
			return nil, ErrDisabled
		}
		argv, err := SplitCommand(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvVar, err)
		}
		return append(argv, rawURL), nil
	}
	lookPath := o.LookPath
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	switch cmp.Or(o.GOOS, runtime.GOOS) {
	case "windows":
		// rundll32 hands the URL to the default handler with no shell in
		// between, so '&' and other cmd.exe metacharacters stay in the URL.
		return []string{"rundll32", "url.dll,FileProtocolHandler", rawURL}, nil
	case "darwin":
		return []string{"open", rawURL}, nil
	}
	candidates := []string{"xdg-open"}
	if getenv("WSL_DISTRO_NAME") != "" {
		candidates = []string{"wslview", "xdg-open"}
	} else if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
		return nil, ErrNoDisplay
	}
	for _, name := range candidates {
		if path, err := lookPath(name); err == nil {
			return []string{path, rawURL}, nil
		}
	}
	return nil, fmt.Errorf("no browser opener found (looked for %s); set %s to a command", strings.Join(candidates, ", "), EnvVar)
}

// checkURL refuses anything but an absolute http(s) URL, so an opener never
// receives a file path, another scheme or something that looks like a flag.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("refusing to open a URL that is not an absolute http(s) URL")
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return errors.New("refusing to open a URL with spaces or control characters")
	}
	return nil
}

// SplitCommand splits a command line on blanks; single and double quotes
// group words (no escapes, no variables, no shell).
func SplitCommand(s string) ([]string, error) {
	const blanks = " \t\n\r"
	var args []string
	for s = strings.TrimLeft(s, blanks); s != ""; s = strings.TrimLeft(s, blanks) {
		var arg strings.Builder
		for s != "" && !strings.ContainsRune(blanks, rune(s[0])) {
			if q := s[0]; q == '\'' || q == '"' {
				end := strings.IndexByte(s[1:], q)
				if end < 0 {
					return nil, errors.New("unterminated quote in the command")
				}
				arg.WriteString(s[1 : 1+end])
				s = s[2+end:]
				continue
			}
			arg.WriteByte(s[0])
			s = s[1:]
		}
		args = append(args, arg.String())
	}
	if len(args) == 0 {
		return nil, errors.New("empty command")
	}
	return args, nil
}
