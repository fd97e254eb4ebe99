package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/syncbuf"
)

const testURL = "https://login.example.test/authorize?a=1&b=2"

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestCommand(t *testing.T) {
	found := func(name string) (string, error) { return "/usr/bin/" + name, nil }
	only := func(have string) func(string) (string, error) {
		return func(name string) (string, error) {
			if name == have {
				return "/usr/bin/" + name, nil
			}
			return "", exec.ErrNotFound
		}
	}
	tests := []struct {
		name     string
		goos     string
		env      map[string]string
		lookPath func(string) (string, error)
		want     []string
		wantErr  error
		errText  string
	}{
		{name: "linux xdg-open", goos: "linux", env: map[string]string{"DISPLAY": ":0"}, lookPath: found,
			want: []string{"/usr/bin/xdg-open", testURL}},
		{name: "wayland", goos: "freebsd", env: map[string]string{"WAYLAND_DISPLAY": "wayland-0"}, lookPath: found,
			want: []string{"/usr/bin/xdg-open", testURL}},
		{name: "wsl prefers wslview", goos: "linux", env: map[string]string{"WSL_DISTRO_NAME": "Ubuntu"}, lookPath: found,
			want: []string{"/usr/bin/wslview", testURL}},
		{name: "wsl falls back to xdg-open", goos: "linux", env: map[string]string{"WSL_DISTRO_NAME": "Ubuntu"}, lookPath: only("xdg-open"),
			want: []string{"/usr/bin/xdg-open", testURL}},
		{name: "no display", goos: "linux", env: map[string]string{}, lookPath: found, wantErr: ErrNoDisplay},
		{name: "no opener", goos: "linux", env: map[string]string{"DISPLAY": ":0"}, lookPath: only("none"), errText: "no browser opener found"},
		{name: "darwin", goos: "darwin", want: []string{"open", testURL}},
		{name: "windows, no cmd.exe", goos: "windows", want: []string{"rundll32", "url.dll,FileProtocolHandler", testURL}},
		{name: "override", goos: "linux", env: map[string]string{EnvVar: `node "/path with space/open.mjs" --flag`},
			want: []string{"node", "/path with space/open.mjs", "--flag", testURL}},
		{name: "override wins on windows", goos: "windows", env: map[string]string{EnvVar: "firefox"}, want: []string{"firefox", testURL}},
		{name: "none", goos: "darwin", env: map[string]string{EnvVar: "None"}, wantErr: ErrDisabled},
		{name: "bad override", goos: "linux", env: map[string]string{EnvVar: `"unterminated`}, errText: "unterminated quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Opener{GOOS: tt.goos, Getenv: env(tt.env), LookPath: tt.lookPath}
			got, err := o.Command(testURL)
			switch {
			case tt.wantErr != nil:
				require.ErrorIs(t, err, tt.wantErr)
			case tt.errText != "":
				require.ErrorContains(t, err, tt.errText)
			default:
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "xdg-open", want: []string{"xdg-open"}},
		{in: "  a   b\tc ", want: []string{"a", "b", "c"}},
		{in: `'C:\Program Files\B\b.exe' --new-window`, want: []string{`C:\Program Files\B\b.exe`, "--new-window"}},
		{in: `a""b ''`, want: []string{"ab", ""}},
		{in: `"it's"`, want: []string{"it's"}},
		{in: "   ", wantErr: true},
		{in: `'open`, wantErr: true},
	}
	for _, tt := range tests {
		got, err := SplitCommand(tt.in)
		if tt.wantErr {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

// TestMain doubles as the fake opener that TestOpen runs: with
// BROWSER_TEST_HELPER=1 the test binary acts out the mode given as its
// first argument instead of running tests.
func TestMain(m *testing.M) {
	if os.Getenv("BROWSER_TEST_HELPER") == "1" && len(os.Args) >= 3 {
		fakeOpener(os.Args[1], os.Args[len(os.Args)-1])
	}
	os.Exit(m.Run())
}

func fakeOpener(mode, url string) {
	fmt.Fprintf(os.Stdout, "opening %s\n", url)
	switch mode {
	case "ok":
		os.Exit(0)
	case "fail":
		os.Exit(3)
	case "slow-fail":
		time.Sleep(3 * time.Second)
		os.Exit(3)
	}
	os.Exit(2)
}

func TestOpen(t *testing.T) {
	t.Setenv("BROWSER_TEST_HELPER", "1")
	helper := fmt.Sprintf("%q", os.Args[0])
	tests := []struct {
		name    string
		mode    string
		url     string
		wantErr string
	}{
		{name: "opener exits 0", mode: "ok", url: testURL},
		{name: "opener fails", mode: "fail", url: testURL, wantErr: "exit status 3"},
		{name: "opener still running counts as opened", mode: "slow-fail", url: testURL},
		{name: "not http", mode: "ok", url: "file:///etc/passwd", wantErr: "not an absolute http(s) URL"},
		{name: "looks like a flag", mode: "ok", url: "--help", wantErr: "not an absolute http(s) URL"},
		{name: "control characters", mode: "ok", url: "https://x.test/\x1b[2J", wantErr: "refusing to open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &syncbuf.Buffer{}
			o := Opener{
				Getenv:   env(map[string]string{EnvVar: helper + " " + tt.mode}),
				Stderr:   out,
				ExitWait: 2 * time.Second,
			}
			if tt.mode == "slow-fail" {
				o.ExitWait = 100 * time.Millisecond
			}
			err := o.Open(context.Background(), tt.url)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
		})
	}

	t.Run("output goes to the given stderr", func(t *testing.T) {
		out := &syncbuf.Buffer{}
		o := Opener{Getenv: env(map[string]string{EnvVar: helper + " ok"}), Stderr: out, ExitWait: 5 * time.Second}
		require.NoError(t, o.Open(context.Background(), testURL))
		assert.True(t, strings.Contains(out.String(), "opening "+testURL), out.String())
	})
	t.Run("missing program", func(t *testing.T) {
		o := Opener{Getenv: env(map[string]string{EnvVar: "/nonexistent/opener"})}
		err := o.Open(context.Background(), testURL)
		require.Error(t, err)
		assert.True(t, errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "no such file"), err.Error())
	})
	t.Run("disabled", func(t *testing.T) {
		o := Opener{Getenv: env(map[string]string{EnvVar: "none"})}
		require.ErrorIs(t, o.Open(context.Background(), testURL), ErrDisabled)
	})
}
