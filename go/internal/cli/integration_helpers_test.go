package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
)

// cliEnv is an isolated user for the built binary: its own HOME,
// XDG_CONFIG_HOME, cache directory and working directory (a git root, so
// the project config search stops there), and no inherited OpenCode or
// XDG variables.
type cliEnv struct {
	t      *testing.T
	home   string
	xdg    string
	cache  string
	work   string
	extra  []string
	config map[string]any
	// noCacheEnv leaves OPENCODE_OAUTH2_CACHE_DIR unset (the config's
	// cacheDir, or the user cache directory under HOME, is used).
	noCacheEnv bool
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	root := t.TempDir()
	e := &cliEnv{
		t:     t,
		home:  filepath.Join(root, "home"),
		xdg:   filepath.Join(root, "home", ".config"),
		cache: filepath.Join(root, "cache"),
		work:  filepath.Join(root, "work"),
	}
	for _, d := range []string{e.xdg, filepath.Join(e.work, ".git"), filepath.Join(root, "managed")} {
		require.NoError(t, os.MkdirAll(d, 0o700))
	}
	e.extra = []string{"OPENCODE_TEST_MANAGED_CONFIG_DIR=" + filepath.Join(root, "managed")}
	return e
}

func (e *cliEnv) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "HOME" || strings.HasPrefix(name, "XDG_") || strings.HasPrefix(name, "OPENCODE_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+e.home, "XDG_CONFIG_HOME="+e.xdg, "XDG_CACHE_HOME="+filepath.Join(e.home, ".cache"),
		"OPENCODE_OAUTH2_BROWSER=none")
	if !e.noCacheEnv {
		env = append(env, store.EnvCacheDir+"="+e.cache)
	}
	return append(env, e.extra...)
}

// setConfig writes cfg as the global OpenCode config.
func (e *cliEnv) setConfig(cfg map[string]any) {
	e.t.Helper()
	e.config = cfg
	data, err := json.MarshalIndent(cfg, "", "  ")
	require.NoError(e.t, err)
	dir := filepath.Join(e.xdg, "opencode")
	require.NoError(e.t, os.MkdirAll(dir, 0o700))
	require.NoError(e.t, os.WriteFile(filepath.Join(dir, "opencode.json"), data, 0o600))
}

type cliResult struct {
	stdout, stderr string
	code           int
}

// run runs the built binary to completion (at most a minute).
func (e *cliEnv) run(args ...string) cliResult {
	e.t.Helper()
	bin, err := buildOnce()
	require.NoError(e.t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = e.work
	cmd.Env = e.environ()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(e.t, err)
	}
	e.t.Logf("$ opencode-oauth2 %s  → exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return cliResult{stdout: out.String(), stderr: errOut.String(), code: code}
}

// running is a started command whose stderr is watched line by line.
type running struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr strings.Builder
	lines  chan string
	done   chan struct{}
	stdout bytes.Buffer
	code   int
}

// start starts the binary and streams its stderr.
func (e *cliEnv) start(args ...string) *running {
	e.t.Helper()
	bin, err := buildOnce()
	require.NoError(e.t, err)
	cmd := exec.Command(bin, args...)
	cmd.Dir = e.work
	cmd.Env = e.environ()
	r := &running{cmd: cmd, lines: make(chan string, 256), done: make(chan struct{})}
	cmd.Stdout = &r.stdout
	pipe, err := cmd.StderrPipe()
	require.NoError(e.t, err)
	require.NoError(e.t, cmd.Start())
	reap(e.t, cmd, &r.code, r.done, func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			r.mu.Lock()
			r.stderr.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
			select {
			case r.lines <- sc.Text():
			default:
			}
		}
		close(r.lines)
	})
	return r
}

// reap runs first (reading the command's output to its end, as Wait
// requires of a pipe), then waits for cmd, keeps its exit code in code and
// closes done; a command still running when the test ends is killed.
func reap(t *testing.T, cmd *exec.Cmd, code *int, done chan struct{}, first func()) {
	go func() {
		first()
		if ee, ok := errors.AsType[*exec.ExitError](cmd.Wait()); ok {
			*code = ee.ExitCode()
		}
		close(done)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
	})
}

// await returns the first submatch of re in a stderr line.
func (r *running) await(t *testing.T, re *regexp.Regexp, limit time.Duration) string {
	t.Helper()
	deadline := time.After(limit)
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				t.Fatalf("the command ended before printing %s; stderr:\n%s", re, r.stderrText())
			}
			if m := re.FindStringSubmatch(line); m != nil {
				return m[1]
			}
		case <-deadline:
			t.Fatalf("no line matching %s within %s; stderr:\n%s", re, limit, r.stderrText())
		}
	}
}

// wait waits for the command's exit code.
func (r *running) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	go func() {
		for range r.lines { // keep draining
		}
	}()
	select {
	case <-r.done:
		t.Logf("stderr:\n%s", r.stderrText())
		return r.code
	case <-time.After(limit):
		t.Fatalf("the command did not end within %s; stderr:\n%s", limit, r.stderrText())
		return -1
	}
}

func (r *running) stderrText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.String()
}

// provider builds a provider entry of shape 1.
func provider(baseURL string, oauth map[string]any) map[string]any {
	return map[string]any{"options": map[string]any{"baseURL": baseURL, "oauth2": oauth}}
}

func ccProvider(as *testenv.AuthServer, baseURL string) map[string]any {
	return provider(baseURL, map[string]any{
		"issuer": as.Issuer, "clientId": testenv.ClientCCBasic, "clientSecret": testenv.ClientCCBasicSecret,
		"authFlow": "client_credentials",
	})
}

func codeProvider(as *testenv.AuthServer, baseURL string) map[string]any {
	return provider(baseURL, map[string]any{
		"issuer": as.Issuer, "clientId": testenv.ClientCodePublic, "authFlow": "authorization_code",
		"scopes": []string{"openid", "offline_access"},
	})
}

func opencodeConfig(providers map[string]any) map[string]any {
	return map[string]any{"plugin": []string{"@vymalo/opencode-oauth2"}, "provider": providers}
}

// seed writes a provider's state file the way a sidecar would have.
func (e *cliEnv) seed(id string, st store.State) {
	e.t.Helper()
	raw, err := json.Marshal(e.config)
	require.NoError(e.t, err)
	res, err := config.Parse(raw)
	require.NoError(e.t, err)
	for _, p := range res.Providers {
		if p.ID != id {
			continue
		}
		s, err := store.Open(e.cache, logging.Discard())
		require.NoError(e.t, err)
		require.NoError(e.t, s.Entry(id, p.CacheKey()).Save(st))
		return
	}
	e.t.Fatalf("no provider %q in the config: %v", id, res.Problems)
}

// loaded reads a provider's state file back.
func (e *cliEnv) loaded(id string) store.State {
	e.t.Helper()
	raw, err := json.Marshal(e.config)
	require.NoError(e.t, err)
	res, err := config.Parse(raw)
	require.NoError(e.t, err)
	for _, p := range res.Providers {
		if p.ID == id {
			s, err := store.Open(e.cache, logging.Discard())
			require.NoError(e.t, err)
			return s.Entry(id, p.CacheKey()).Load()
		}
	}
	e.t.Fatalf("no provider %q", id)
	return store.State{}
}

// tokenState is a cached token from an oauth2.Token.
func tokenState(tok *oauth2.Token, expired bool) store.State {
	exp := time.Now().Add(5 * time.Minute)
	if expired {
		exp = time.Now().Add(-time.Minute)
	}
	id, _ := tok.Extra("id_token").(string)
	return store.State{Token: &store.Token{
		AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, IDToken: id, TokenType: "Bearer",
		ExpiresAt: exp, ObtainedAt: time.Now().Add(-time.Minute),
	}}
}

// refreshWith tries the refresh grant directly at the server.
func refreshWith(t *testing.T, as *testenv.AuthServer, rt string) error {
	t.Helper()
	cfg := oauth2.Config{ClientID: testenv.ClientCodePublic,
		Endpoint: oauth2.Endpoint{TokenURL: as.TokenURL(), AuthStyle: oauth2.AuthStyleInParams}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	return err
}

// gatewayStatus calls GET /v1/models of the gateway with authorization.
func gatewayStatus(t *testing.T, gw *testenv.Gateway, authorization string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gw.URL+"/v1/models", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", authorization)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// closedPort is a port on 127.0.0.1 with nothing listening.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(s), v), "%s", s)
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o600)
}

// buildBinary builds the sidecar once per test binary run.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "opencode-oauth2-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "opencode-oauth2")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/opencode-oauth2").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v: %s", err, out)
	}
	return bin, nil
})
