package cli

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
	"github.com/vymalo/opencode-oauth2/go/internal/secret"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/syncbuf"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

type usageCase struct {
	name   string
	args   []string
	code   int
	stdout []string
	stderr []string
}

// onPath and offPath make the program's name found, or not, on PATH.
func onPath(string) (string, error)  { return "/usr/local/bin/opencode-oauth2", nil }
func offPath(string) (string, error) { return "", errors.New("not found") }

func runCLI(lookPath func(string) (string, error), args ...string) (stdout, stderr string, code int) {
	return runCLIEnv(lookPath, nil, args...)
}

// runCLIEnv runs the command line in-process with only env set.
func runCLIEnv(lookPath func(string) (string, error), env map[string]string, args ...string) (stdout, stderr string, code int) {
	var out, errOut syncbuf.Buffer
	c := newCLI(strings.NewReader(""), &out, &errOut)
	c.lookPath = lookPath
	c.getenv = func(k string) string { return env[k] }
	code = c.run(args)
	return out.String(), errOut.String(), code
}

func TestRunUsage(t *testing.T) {
	cases := []usageCase{
		{"no arguments", nil, exitUsage, nil, []string{"Usage:", "Commands for people and CI"}},
		{"help", []string{"help"}, exitOK, []string{"login [provider]", "doctor [provider...]", "Exit codes:", "3    login required", "130  interrupted", docsURL}, nil},
		{"--help", []string{"--help"}, exitOK, []string{"Commands for people and CI"}, nil},
		{"unknown command: did you mean, the usage line, not the whole help", []string{"statsu"}, exitUsage, nil,
			[]string{`unknown command "statsu"; did you mean "status"?`, "Usage: opencode-oauth2 <command>", "Run `opencode-oauth2 help`"}},
		{"unknown command far from any", []string{"frobnicate"}, exitUsage, nil, []string{`unknown command "frobnicate"` + "\n"}},
		{"help <command>", []string{"help", "token"}, exitOK, []string{"Usage: opencode-oauth2 token [flags] <provider>", "--header", docsURL + "#token"}, nil},
		{"help <typo>", []string{"help", "tokne"}, exitUsage, nil, []string{`unknown command "tokne"; did you mean "token"?`}},
		{"version", []string{"version"}, exitOK, []string{"opencode-oauth2 dev", "commit:", "go:       go1.", "protocol: 1", "platform: " + runtime.GOOS + "/" + runtime.GOARCH}, nil},
		{"--version", []string{"--version"}, exitOK, []string{"opencode-oauth2 dev"}, nil},
		{"completion without a shell", []string{"completion"}, exitUsage, nil, []string{"name one shell: bash, zsh or fish"}},
		{"completion typo", []string{"completion", "bsh"}, exitUsage, nil, []string{`no completion for shell "bsh"; did you mean "bash"?`}},
	}
	for _, name := range []string{"login", "logout", "status", "token", "models", "doctor"} {
		cases = append(cases,
			usageCase{name + " --help", []string{name, "--help"}, exitOK, []string{"Usage: opencode-oauth2 " + name, "--config file", "--no-color", "Exit codes:"}, nil},
			usageCase{name + " -h after an argument", []string{name, "x", "-h"}, exitOK, []string{"Usage: opencode-oauth2 " + name}, nil},
			usageCase{name + " bad flag: short error and the usage line", []string{name, "--nope"}, exitUsage, nil,
				[]string{"unknown flag --nope\n", "Usage: opencode-oauth2 " + name, "Run `opencode-oauth2 " + name + " --help` for the flags."}},
		)
	}
	cases = append(cases,
		usageCase{"flag typo", []string{"token", "--hedaer", "x"}, exitUsage, nil, []string{"unknown flag --hedaer; did you mean --header?"}},
		usageCase{"flag typo of a common flag", []string{"status", "--jsno"}, exitUsage, nil, []string{"unknown flag --jsno; did you mean --json?"}},
		usageCase{"flag without its value", []string{"status", "--config"}, exitUsage, nil, []string{"the flag --config needs a value"}},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(onPath, tc.args...)
			assert.Equal(t, tc.code, code)
			for _, s := range tc.stdout {
				assert.Contains(t, stdout, s)
			}
			for _, s := range tc.stderr {
				assert.Contains(t, stderr, s)
			}
			if tc.stdout == nil {
				assert.Empty(t, stdout, "usage errors go to stderr")
			}
			if tc.code == exitUsage && len(tc.args) > 0 {
				assert.NotContains(t, stderr, "Exit codes:", "a usage error prints the usage line, not the whole help")
			}
		})
	}
}

// TestHintsWorkWhereTheUserIs: a hint names the program as it can be run
// here: by name when it is on PATH, else through npx (#17).
func TestHintsWorkWhereTheUserIs(t *testing.T) {
	_, stderr, _ := runCLI(offPath, "statsu")
	assert.Contains(t, stderr, "Run `npx @vymalo/opencode-oauth2 help`")
	stdout, _, _ := runCLI(offPath, "help", "token")
	assert.Contains(t, stdout, `curl -H "$(npx @vymalo/opencode-oauth2 token --header acme)"`)
	assert.Contains(t, stdout, "Usage: npx @vymalo/opencode-oauth2 token")
	stdout, _, _ = runCLI(onPath, "help", "token")
	assert.Contains(t, stdout, `curl -H "$(opencode-oauth2 token --header acme)"`)
	none := func(string) string { return "" }
	assert.Equal(t, "opencode-oauth2", selfCommand(none, onPath))
	assert.Equal(t, "npx @vymalo/opencode-oauth2", selfCommand(none, offPath))
	npx := func(k string) string { return map[string]string{envCommand: "npx @vymalo/opencode-oauth2"}[k] }
	assert.Equal(t, "npx @vymalo/opencode-oauth2", selfCommand(npx, onPath), "the launcher knows npx put it on PATH for one run")
}

func TestVersionJSON(t *testing.T) {
	stdout, _, code := runCLI(onPath, "version", "--json")
	require.Equal(t, exitOK, code)
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &v))
	assert.Equal(t, "dev", v["version"])
	assert.Equal(t, float64(protocol.ProtocolVersion), v["protocol"])
	assert.Equal(t, runtime.Version(), v["go"])
	assert.Equal(t, runtime.GOOS+"/"+runtime.GOARCH, v["platform"])
	assert.NotEmpty(t, v["commit"])
}

// TestCompletionScripts: each script is valid for its shell (when the
// shell is installed).
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			stdout, stderr, code := runCLI(onPath, "completion", shell)
			require.Equal(t, exitOK, code, stderr)
			assert.Contains(t, stdout, "opencode-oauth2")
			path, err := exec.LookPath(shell)
			if err != nil {
				t.Logf("%s is not installed: syntax not checked", shell)
				return
			}
			file := filepath.Join(t.TempDir(), "c."+shell)
			require.NoError(t, os.WriteFile(file, []byte(stdout), 0o600))
			args := []string{"-n", file}
			if shell == "fish" {
				args = []string{"--no-execute", file}
			}
			out, err := exec.Command(path, args...).CombinedOutput()
			assert.NoError(t, err, "%s", out)
		})
	}
}

// TestCompletionWords: what the scripts get from the command: commands,
// flags, shells, and the provider ids of the config (also those skipped
// for config errors), without network.
func TestCompletionWords(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "opencode.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{"provider": {
		"acme": {"options": {"oauth2": {"issuer": "https://idp.example", "clientId": "c", "authFlow": "client_credentials", "clientSecret": "s"}}},
		"broken": {"options": {"oauth2": {"issuer": "https://idp.example"}}}}}`), 0o600))
	env := map[string]string{"OPENCODE_OAUTH2_CACHE_DIR": filepath.Join(dir, "cache")}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"tok"}, []string{"token"}},
		{[]string{"lo"}, []string{"login", "logout", "logs"}},
		{[]string{"token", "--hea"}, []string{"--header"}},
		{[]string{"login", "--no-"}, []string{"--no-browser", "--no-color"}},
		{[]string{"completion", "ba"}, []string{"bash"}},
		{[]string{"help", "sta"}, []string{"status"}},
		{[]string{"status", "--config", cfg, ""}, []string{"acme", "broken"}},
		{[]string{"token", "--config", cfg, "ac"}, []string{"acme"}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, stderr, code := runCLIEnv(onPath, env, append([]string{cobra.ShellCompRequestCmd}, tc.args...)...)
			require.Equal(t, exitOK, code, stderr)
			var words []string
			for _, line := range strings.Split(stdout, "\n") {
				// The shell keeps the words that start with what was typed.
				if line != "" && !strings.HasPrefix(line, ":") && strings.HasPrefix(line, tc.args[len(tc.args)-1]) {
					word, _, _ := strings.Cut(line, "\t")
					words = append(words, word)
				}
			}
			assert.Equal(t, tc.want, words)
		})
	}
	stdout, stderr, code := runCLIEnv(onPath, env, "completion", "--providers", "--config", cfg)
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, "acme\nbroken\n", stdout)
}

// TestFlagsAnywhere: flags may follow the positional arguments; "--" ends
// the flags.
func TestFlagsAnywhere(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"version", "--json"}, exitOK, `"version": "dev"`, ""},
		{[]string{"logs", "--path"}, exitOK, "sidecar.log", ""},
		{[]string{"logs", "x", "--path"}, exitUsage, "", "logs takes no arguments"},
		{[]string{"logs", "--", "--path"}, exitUsage, "", "logs takes no arguments"},
		{[]string{"logs", "-n", "x"}, exitUsage, "", `invalid argument "x"`},
		{[]string{"logs", "-n"}, exitUsage, "", "the flag -n needs a value"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, stderr, code := runCLIEnv(onPath, map[string]string{logging.EnvLogFile: filepath.Join(t.TempDir(), "sidecar.log")}, tc.args...)
			assert.Equal(t, tc.code, code, stderr)
			assert.Contains(t, stdout, tc.stdout)
			assert.Contains(t, stderr, tc.stderr)
		})
	}
}

func jwt(t *testing.T, claims map[string]any) secret.String {
	t.Helper()
	b, err := json.Marshal(claims)
	require.NoError(t, err)
	enc := base64.RawURLEncoding
	return secret.New(enc.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + enc.EncodeToString(b) + ".c2ln")
}

func TestIdentityOf(t *testing.T) {
	cases := []struct {
		name string
		tok  secret.String
		want string
		ok   bool
	}{
		{"email wins", jwt(t, map[string]any{"sub": "u1", "email": "a@b.test", "name": "A"}), "a@b.test", true},
		{"user name", jwt(t, map[string]any{"sub": "u1", "preferred_username": "alice"}), "alice", true},
		{"subject only", jwt(t, map[string]any{"sub": "u1"}), "u1", true},
		{"control characters are neutralised", jwt(t, map[string]any{"sub": "a\x1b[31mb"}), "a[31mb", true},
		{"no identity claims", jwt(t, map[string]any{"aud": "x"}), "", false},
		{"not a JWT", secret.New("opaque-token"), "", false},
		{"bad base64", secret.New("a.!!!.c"), "", false},
		{"payload not an object", secret.New("a." + base64.RawURLEncoding.EncodeToString([]byte(`[1]`)) + ".c"), "", false},
		{"empty", secret.String{}, "", false},
		{"too large", secret.New(strings.Repeat("a", maxJWT+1)), "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, ok := identityOf(tc.tok)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, id.String())
		})
	}
}

func TestExpirySaysExpiredForThePast(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.Local)
	assert.Equal(t, "expired 2m33s ago (11:57:27)", expiry(now.Add(-153*time.Second), now))
	assert.Equal(t, "expires in 5m0s (12:05:00)", expiry(now.Add(5*time.Minute), now))
	assert.Equal(t, "expired now (12:00:00)", expiry(now, now))
}

func TestWhen(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.Local)
	cases := []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "-"},
		{now.Add(90 * time.Second), "in 1m30s (12:01:30)"},
		{now.Add(-2 * time.Hour), "2h0m0s ago (10:00:00)"},
		{now.Add(48 * time.Hour), "in 48h0m0s (2026-05-03 12:00:00)"},
		{now, "now (12:00:00)"},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, when(tc.t, now))
	}
}

func TestExitCodeOfTokenErrors(t *testing.T) {
	assert.Equal(t, exitLoginRequired, tokenExitCode(tokens.ErrLoginRequired))
	assert.Equal(t, exitLoginRequired, tokenExitCode(tokens.ErrInvalidGrant))
	assert.Equal(t, exitConfig, tokenExitCode(tokens.ErrInvalidClient))
	assert.Equal(t, exitFailure, tokenExitCode(tokens.ErrTransient))
}

func TestLineHandlerRedactsSecrets(t *testing.T) {
	var buf syncbuf.Buffer
	log := slog.New(&lineHandler{mu: &sync.Mutex{}, w: &buf, level: slog.LevelInfo}).With("provider", "gw")
	log.Debug("hidden")
	log.Warn("token refreshed", "token", secret.New("s3cr3t-value"), "n", 2)
	assert.Equal(t, "warning: token refreshed (provider=gw, token="+secret.Redacted+", n=2)\n", buf.String())
}

func TestDoctorReportExitCode(t *testing.T) {
	r := &report{}
	r.add("a", "x", statusOK, "", "")
	r.add("a", "y", statusWarn, "", "")
	code, summary := r.tally()
	assert.Equal(t, exitOK, code)
	assert.Equal(t, "0 failed, 1 warning", summary)
	r.add("b", "z", statusFail, "", "")
	code, _ = r.tally()
	assert.Equal(t, exitFailure, code)
	r.add("a", "w", statusFail, "", "").Config = true
	r.add("c", "v", statusFail, "", "")
	code, summary = r.tally()
	assert.Equal(t, exitConfig, code, "a configuration failure wins")
	assert.Equal(t, "3 failed, 1 warning", summary)
	var order []string
	for _, ch := range r.Checks {
		order = append(order, ch.Name)
	}
	assert.Equal(t, []string{"x", "y", "w", "z", "v"}, order, "grouped by section, stable")
}

func TestCheckCacheDir(t *testing.T) {
	cases := []struct {
		name   string
		setup  func(t *testing.T) string
		status map[string]string // check name → status
	}{
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") },
			map[string]string{"directory": statusOK}},
		{"private and writable", func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "c")
			require.NoError(t, os.Mkdir(d, 0o700))
			return d
		}, map[string]string{"directory": statusOK}},
		{"too open", func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "c")
			require.NoError(t, os.Mkdir(d, 0o700))
			require.NoError(t, os.Chmod(d, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(d, "gw-abc.json"), []byte("{}"), 0o644))
			return d
		}, map[string]string{"permissions": statusWarn, "files": statusWarn, "directory": statusOK}},
		{"a file", func(t *testing.T) string {
			f := filepath.Join(t.TempDir(), "f")
			require.NoError(t, os.WriteFile(f, nil, 0o600))
			return f
		}, map[string]string{"directory": statusFail}},
		// The store's own rule: a directory others could swap is refused by the
		// doctor as by the sidecar (it passed the doctor's older check).
		{"in a directory anyone may write to", func(t *testing.T) string {
			parent := filepath.Join(t.TempDir(), "shared")
			require.NoError(t, os.Mkdir(parent, 0o700))
			require.NoError(t, os.Chmod(parent, 0o777))
			d := filepath.Join(parent, "c")
			require.NoError(t, os.Mkdir(d, 0o700))
			return d
		}, map[string]string{"owner": statusFail}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.setup(t)
			r := &report{}
			checkCacheDir(r, dir, (*os.File).Write)
			got := map[string]string{}
			for _, ch := range r.Checks {
				got[ch.Name] = ch.Status
				assert.Equal(t, "cache", ch.Section)
			}
			assert.Equal(t, tc.status, got)
			left, _ := os.ReadDir(dir)
			for _, e := range left {
				assert.False(t, strings.HasPrefix(e.Name(), ".doctor-"), "the probe file is removed")
			}
		})
	}
}

// TestLogsShowsTheLastLines: the rotated file, then the current one; -n
// keeps the last lines, 0 all of them.
func TestLogsShowsTheLastLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sidecar.log")
	env := map[string]string{logging.EnvLogFile: path}
	got, _, code := runCLIEnv(onPath, env, "logs", "--path")
	require.Equal(t, exitOK, code)
	assert.Equal(t, path+"\n", got)
	_, stderr, code := runCLIEnv(onPath, env, "logs")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, stderr, "No log lines yet")
	require.NoError(t, os.WriteFile(path+".1", []byte("a\nb\n"), 0o600))
	require.NoError(t, os.WriteFile(path, []byte("c\n\nd\n"), 0o600))
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"logs"}, "a\nb\nc\n\nd\n"},
		{[]string{"logs", "-n", "3"}, "c\n\nd\n"},
		{[]string{"logs", "--lines=2"}, "\nd\n"},
		{[]string{"logs", "-n", "0"}, "a\nb\nc\n\nd\n"},
	}
	for _, tc := range cases {
		stdout, stderr, code := runCLIEnv(onPath, env, tc.args...)
		assert.Equal(t, exitOK, code, stderr)
		assert.Equal(t, tc.want, stdout, strings.Join(tc.args, " "))
	}
}
