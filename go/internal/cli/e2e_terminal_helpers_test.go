//go:build integration

package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
)

// openCode is the real OpenCode (npm opencode-ai) with the plugin built from
// this checkout, isolated in a cliEnv: its own HOME, XDG dirs and cache.
type openCode struct {
	bin     string
	env     []string
	dir     string
	browser string // where the stand-in browser writes its results
}

// newOpenCode prepares e for the real OpenCode: the plugin by file URL, the
// sidecar built from this checkout, the config-dir npm install pre-empted,
// and a stand-in xdg-open on PATH that hands login URLs to a headless
// Chromium (go/internal/oauth/testdata/chromium-login.mjs).
func newOpenCode(t *testing.T, e *cliEnv, cfg map[string]any) *openCode {
	t.Helper()
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	oc := &openCode{bin: filepath.Join(root, "node_modules", ".bin", "opencode"), dir: e.work}
	plugin := filepath.Join(root, "js-shim", "dist", "index.js")
	for _, f := range []string{oc.bin, plugin} {
		_, err := os.Stat(f)
		require.NoError(t, err, "%s is missing: run `npm install` and `npm run build:shim` (the test:go task does)", f)
	}
	bin, err := buildOnce()
	require.NoError(t, err)
	cfg["plugin"] = []string{"file://" + plugin}
	e.setConfig(cfg)

	// OpenCode installs @opencode-ai/plugin into each config directory
	// unless it is already there (see the host reference); pre-empt it.
	confDir := filepath.Join(e.xdg, "opencode")
	require.NoError(t, os.MkdirAll(filepath.Join(confDir, "node_modules"), 0o700))
	require.NoError(t, writeFile(filepath.Join(confDir, "package.json"), `{"dependencies":{"@opencode-ai/plugin":"1.18.33"}}`))
	require.NoError(t, writeFile(filepath.Join(confDir, "package-lock.json"),
		`{"lockfileVersion":3,"packages":{"":{"dependencies":{"@opencode-ai/plugin":"1.18.33"}}}}`))

	oc.browser = filepath.Join(e.home, "browser")
	opener := filepath.Join(e.home, "bin", "xdg-open")
	require.NoError(t, writeFile(opener, fmt.Sprintf(`#!/bin/sh
# A stand-in for the desktop's opener: the login URL goes to a headless Chromium.
node %q "%s/result-$$.json" "$1" </dev/null >>"%s/chromium.log" 2>&1 &
`, filepath.Join(root, "go", "internal", "oauth", "testdata", "chromium-login.mjs"), oc.browser, oc.browser)))
	require.NoError(t, os.Chmod(opener, 0o700))
	require.NoError(t, os.MkdirAll(oc.browser, 0o700))

	var env []string
	for _, kv := range e.environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "CI" || name == "PATH" || name == "DISPLAY" || name == "WAYLAND_DISPLAY" || name == "OPENCODE_OAUTH2_BROWSER" {
			continue
		}
		env = append(env, kv)
	}
	oc.env = append(env,
		"PATH="+filepath.Dir(opener)+string(os.PathListSeparator)+os.Getenv("PATH"), "DISPLAY=:0",
		"XDG_DATA_HOME="+filepath.Join(e.home, ".local", "share"), "XDG_STATE_HOME="+filepath.Join(e.home, ".local", "state"),
		"OPENCODE_DISABLE_MODELS_FETCH=1", "OPENCODE_DISABLE_AUTOUPDATE=1", "OPENCODE_DISABLE_SHARE=1",
		"OPENCODE_DISABLE_LSP_DOWNLOAD=1", "OPENCODE_DISABLE_DEFAULT_PLUGINS=1",
		"OPENCODE_OAUTH2_BINARY="+bin, "PWD="+e.work)
	return oc
}

// sidecarLog is the text of the sidecar's own log file.
func (oc *openCode) sidecarLog(e *cliEnv) string {
	b, _ := os.ReadFile(filepath.Join(e.home, ".local", "state", "opencode-oauth2", "sidecar.log"))
	return string(b)
}

// browserResults are the stand-in browser's result files.
func (oc *openCode) browserResults(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(oc.browser, "result-*.json"))
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		out = append(out, string(b))
	}
	return out
}

// ansi matches terminal escape sequences (colours, cursor moves).
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]`)

// ptySession is a command running on a pseudo-terminal (util-linux `script`),
// as when a person starts it: stdin, stdout and stderr are the terminal.
type ptySession struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}

	mu   sync.Mutex
	text strings.Builder
	code int
}

// inTerminal starts oc with args on a new pseudo-terminal (nothing set
// OPENCODE_OAUTH2_INTERACTIVE: the plugin must see the terminal itself).
//
// script runs its command with $SHELL -c; `exec` makes that shell become
// OpenCode, so that the terminal's foreground process group is OpenCode and
// its children, as when a person starts it from an interactive shell (which
// gives each job a process group of its own). A shell left waiting in
// between gets Ctrl-C too, and may answer it itself: dash, the /bin/sh of
// Debian and Ubuntu (and what script runs when SHELL is unset), waits for
// OpenCode, however it ended, and then kills itself with SIGINT, so that
// script reports 130. bash happens to exec a lone command by itself, which
// hid this. SHELL is pinned so that the quoting below is POSIX sh's and the
// harness the same on every machine.
func (oc *openCode) inTerminal(t *testing.T, args ...string) *ptySession {
	t.Helper()
	quoted := make([]string, 0, len(args)+1)
	for _, a := range append([]string{oc.bin}, args...) {
		quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	cmd := exec.Command("script", "-qec", "exec "+strings.Join(quoted, " "), "/dev/null")
	cmd.Dir, cmd.Env = oc.dir, append(slices.Clip(oc.env), "SHELL=/bin/sh")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	s := &ptySession{cmd: cmd, stdin: stdin, lines: make(chan string, 4096), done: make(chan struct{})}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := strings.TrimRight(ansi.ReplaceAllString(sc.Text(), ""), "\r")
			s.mu.Lock()
			s.text.WriteString(line + "\n")
			s.mu.Unlock()
			select {
			case s.lines <- line:
			default: // nobody awaits lines this far on
			}
		}
		err := cmd.Wait()
		s.mu.Lock()
		s.code = cmd.ProcessState.ExitCode()
		if err != nil && s.code == 0 {
			s.code = -1
		}
		s.mu.Unlock()
		close(s.done)
	}()
	return s
}

// await returns the submatches of the first output line matching re.
func (s *ptySession) await(t *testing.T, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line := <-s.lines:
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-s.done:
			t.Fatalf("the session ended before a line matched %s; output:\n%s", re, s.output())
		case <-deadline:
			t.Fatalf("no line matched %s within %s; output:\n%s", re, timeout, s.output())
		}
	}
}

// interrupt types Ctrl-C at the terminal.
func (s *ptySession) interrupt(t *testing.T) {
	t.Helper()
	_, err := s.stdin.Write([]byte{3})
	require.NoError(t, err)
}

// wait returns the exit code and everything the terminal showed.
func (s *ptySession) wait(t *testing.T, timeout time.Duration) (int, string) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		t.Fatalf("still running after %s; output:\n%s", timeout, s.output())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code, s.text.String()
}

func (s *ptySession) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.text.String()
}
