//go:build integration && !windows

package cli

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
)

// ttyRun is the built binary running on a pseudo-terminal, as in a
// person's shell: stdin, stdout and stderr are the terminal.
type ttyRun struct {
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	read chan struct{} // closed when the terminal has nothing more to read
	code int
}

func (e *cliEnv) startTTY(extraEnv []string, args ...string) *ttyRun {
	e.t.Helper()
	bin, err := buildOnce()
	require.NoError(e.t, err)
	cmd := exec.Command(bin, args...)
	cmd.Dir = e.work
	cmd.Env = append(e.environ(), extraEnv...)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	require.NoError(e.t, err)
	r := &ttyRun{cmd: cmd, tty: f, done: make(chan struct{}), read: make(chan struct{})}
	go func() {
		defer close(r.read)
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			r.mu.Lock()
			r.out.Write(buf[:n])
			r.mu.Unlock()
			if err != nil {
				break
			}
		}
	}()
	e.t.Cleanup(func() { _ = f.Close() }) // after reap's: the command is ended first
	reap(e.t, cmd, &r.code, r.done, func() {})
	return r
}

func (r *ttyRun) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// await waits until the terminal output matches re.
func (r *ttyRun) await(t *testing.T, re *regexp.Regexp, limit time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(r.text()); m != nil {
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no output matching %s within %s; terminal:\n%q", re, limit, r.text())
	return nil
}

func (r *ttyRun) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	deadline := time.After(limit)
	for _, ch := range []chan struct{}{r.done, r.read} {
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("the command did not end within %s; terminal:\n%q", limit, r.text())
		}
	}
	return r.code
}

// TestCLILoginOnATerminal (#17): on a terminal, a login shows what it waits
// for, the time left and how to cancel, updated in place; colour unless
// NO_COLOR or --no-color; Ctrl-C (the terminal's interrupt character) ends
// it with exit code 130. Not on a terminal, plain lines.
func TestCLILoginOnATerminal(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true})
	e := newCLIEnv(t)
	e.setConfig(opencodeConfig(map[string]any{"pc": codeProvider(as, "http://127.0.0.1:9/v1")}))
	countdown := regexp.MustCompile(`\r\x1b\[K.*Waiting for the login in the browser: (\d+m\d+s|\d+s) left .*Ctrl-C to cancel`)

	t.Run("countdown, colour, Ctrl-C", func(t *testing.T) {
		r := e.startTTY(nil, "login", "--no-browser", "pc")
		first := r.await(t, countdown, 30*time.Second)[1]
		// The line is rewritten in place (\r), with the time left going down.
		r.await(t, regexp.MustCompile(`(?s)`+regexp.QuoteMeta(first)+` left.*\r\x1b\[K.*Waiting for the login in the browser: `), 30*time.Second)
		out := r.text()
		assert.Contains(t, out, "To log in to pc, open this URL in a browser on this machine:")
		assert.Contains(t, out, "\x1b[1mhttp://127.0.0.1:", "the URL is highlighted")
		assert.NotContains(t, out, "could not open a browser", "--no-browser is a choice, not a failure")
		_, err := r.tty.Write([]byte{3}) // Ctrl-C as typed: the terminal sends SIGINT
		require.NoError(t, err)
		assert.Equal(t, exitInterrupted, r.wait(t, 30*time.Second))
		assert.Contains(t, r.text(), "interrupted")
	})
	t.Run("NO_COLOR", func(t *testing.T) {
		r := e.startTTY([]string{"NO_COLOR=1"}, "login", "--no-browser", "pc")
		r.await(t, countdown, 30*time.Second)
		require.NoError(t, r.cmd.Process.Signal(os.Interrupt))
		assert.Equal(t, exitInterrupted, r.wait(t, 30*time.Second))
		assert.Empty(t, regexp.MustCompile("\x1b\\[[0-9;]*m").FindAllString(r.text(), -1), "no colour codes: %q", r.text())
	})
	t.Run("--no-color", func(t *testing.T) {
		r := e.startTTY(nil, "login", "--no-color", "--no-browser", "pc")
		r.await(t, countdown, 30*time.Second)
		require.NoError(t, r.cmd.Process.Signal(os.Interrupt))
		assert.Equal(t, exitInterrupted, r.wait(t, 30*time.Second))
		assert.Empty(t, regexp.MustCompile("\x1b\\[[0-9;]*m").FindAllString(r.text(), -1), "no colour codes: %q", r.text())
	})
	t.Run("not a terminal: plain lines", func(t *testing.T) {
		run := e.start("login", "--no-browser", "pc")
		run.await(t, regexp.MustCompile(`^(Waiting for the login in the browser until \d\d:\d\d:\d\d \(Ctrl-C to cancel\)\.)$`), 30*time.Second)
		require.NoError(t, run.cmd.Process.Signal(os.Interrupt))
		assert.Equal(t, exitInterrupted, run.wait(t, 30*time.Second))
		assert.NotContains(t, run.stderrText(), "\r")
		assert.NotContains(t, run.stderrText(), "\x1b")
	})
	t.Run("picker: login without a provider", func(t *testing.T) {
		e.setConfig(opencodeConfig(map[string]any{"pc": codeProvider(as, "http://127.0.0.1:9/v1"), "cc": ccProvider(as, "http://127.0.0.1:9/v1")}))
		r := e.startTTY(nil, "login")
		r.await(t, regexp.MustCompile(`(?s)Log in to which provider\?.*1\) cc — client_credentials.*2\) pc — authorization_code.*Number: `), 30*time.Second)
		_, err := io.WriteString(r.tty, "1\r")
		require.NoError(t, err)
		assert.Equal(t, exitOK, r.wait(t, 60*time.Second), "%q", r.text())
		assert.Contains(t, ansi.ReplaceAllString(r.text(), ""), "cc uses the client_credentials flow: no login needed")

		plain := e.run("login")
		assert.Equal(t, exitUsage, plain.code)
		assert.Contains(t, plain.stderr, "name the provider to log in to, e.g. `npx @vymalo/opencode-oauth2 login cc`; the providers are:")
		assert.Contains(t, plain.stderr, "2) pc — authorization_code")
	})
}
