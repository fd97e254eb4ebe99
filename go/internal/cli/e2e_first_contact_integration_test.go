//go:build integration

package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testgateway"
)

// The first contact of a new user (issue: "a user-flow provider works from
// the very first start"), with the real OpenCode, the real authorization
// server and gateway, and a real headless Chromium behind a stand-in
// xdg-open: nothing is cached, nobody ran a login command.

var gatewayModels = []string{"alpha-1", "beta-2", "gamma-3"}

func firstContactStack(t *testing.T) (*testenv.AuthServer, *testenv.Gateway) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true, DeviceInterval: time.Second})
	gw := testenv.StartGatewayWithOptions(t, testgateway.Options{Issuer: as.Issuer, Audience: as.Audience, Models: gatewayModels})
	return as, gw
}

// runPiped runs OpenCode the way CI does: stdin /dev/null, output piped.
func runPiped(ctx context.Context, t *testing.T, oc *openCode, args ...string) (int, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, oc.bin, args...)
	cmd.Dir, cmd.Env = oc.dir, oc.env
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		require.NoError(t, err, "opencode %s: %s", strings.Join(args, " "), out)
	}
	return cmd.ProcessState.ExitCode(), ansi.ReplaceAllString(string(out), "")
}

func withLoginTimeout(p map[string]any) map[string]any {
	p["options"].(map[string]any)["oauth2"].(map[string]any)["loginTimeoutSeconds"] = 90
	return p
}

// listed are the model ids `opencode models` printed for a provider.
func listed(output, provider string) []string {
	var ids []string
	for _, line := range strings.Split(output, "\n") {
		if id, ok := strings.CutPrefix(strings.TrimSpace(line), provider+"/"); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

var (
	terminalCode  = regexp.MustCompile(`^[│\s]*code: (\S+)$`)
	loggingIn     = regexp.MustCompile(`^opencode-oauth2: logging in to .* \((\S+)\)`)
	loggedInLine  = regexp.MustCompile(`(?m)^opencode-oauth2: logged in to .* \((\S+)\); (\d+) model\(s\) listed`)
	loginHintLine = regexp.MustCompile(`log in with: opencode auth login -p (\S+)`)
)

// TestFirstStartInATerminalLogsInAndListsTheModels: `opencode models <id>`
// in a terminal with no token runs the login (the browser for
// authorization_code, the code on the terminal for device_code) and lists
// the gateway's models in that same start.
func TestFirstStartInATerminalLogsInAndListsTheModels(t *testing.T) {
	as, gw := firstContactStack(t)
	for _, flow := range []string{"authorization_code", "device_code"} {
		t.Run(flow, func(t *testing.T) {
			e := newCLIEnv(t)
			p := codeProvider(as, gw.URL+"/v1")
			if flow == "device_code" {
				p = deviceProvider(as, gw.URL+"/v1", "device_code")
			}
			oc := newOpenCode(t, e, opencodeConfig(map[string]any{"gw": withLoginTimeout(p)}))
			s := oc.inTerminal(t, "models", "gw")
			s.await(t, loggingIn, 2*time.Minute)
			if flow == "device_code" {
				code := s.await(t, terminalCode, time.Minute)[1]
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				require.NoError(t, as.ApproveDevice(ctx, code))
			}
			exit, out := s.wait(t, 3*time.Minute)
			require.Equal(t, 0, exit, out)
			assert.ElementsMatch(t, gatewayModels, listed(out, "gw"), out)
			assert.Regexp(t, loggedInLine, out)
			if flow == "authorization_code" {
				results := oc.browserResults(t)
				require.Len(t, results, 1, "one browser was opened")
				assert.Contains(t, results[0], `"ok":true`)
			}
			// The next start needs no login: the token is cached.
			again := oc.inTerminal(t, "models", "gw")
			exit, out = again.wait(t, 2*time.Minute)
			require.Equal(t, 0, exit, out)
			assert.NotRegexp(t, loggingIn, out)
			assert.ElementsMatch(t, gatewayModels, listed(out, "gw"), out)
		})
	}
}

// TestTwoProvidersAtAFirstTerminalStart: each login is announced and runs
// in turn; a refused one does not stop the other.
func TestTwoProvidersAtAFirstTerminalStart(t *testing.T) {
	as, gw := firstContactStack(t)
	for _, deny := range []bool{false, true} {
		name := map[bool]string{false: "both logged in", true: "one refused"}[deny]
		t.Run(name, func(t *testing.T) {
			e := newCLIEnv(t)
			oc := newOpenCode(t, e, opencodeConfig(map[string]any{
				"dv": withLoginTimeout(deviceProvider(as, gw.URL+"/v1", "device_code")),
				"pc": withLoginTimeout(codeProvider(as, gw.URL+"/v1")),
			}))
			s := oc.inTerminal(t, "models")
			first := s.await(t, loggingIn, 2*time.Minute)[1]
			require.Equal(t, "dv", first, "in config order")
			code := s.await(t, terminalCode, time.Minute)[1]
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if deny {
				require.NoError(t, as.DenyDevice(ctx, code))
			} else {
				require.NoError(t, as.ApproveDevice(ctx, code))
			}
			require.Equal(t, "pc", s.await(t, loggingIn, 2*time.Minute)[1])
			exit, out := s.wait(t, 3*time.Minute)
			require.Equal(t, 0, exit, out)
			assert.ElementsMatch(t, gatewayModels, listed(out, "pc"), out)
			if deny {
				assert.Empty(t, listed(out, "dv"), out)
				assert.Contains(t, out, "the device login was denied")
				assert.Equal(t, "dv", loginHintLine.FindStringSubmatch(out)[1], "the refused one says how to log in later")
			} else {
				assert.ElementsMatch(t, gatewayModels, listed(out, "dv"), out)
			}
		})
	}
}

// TestCtrlCAtAFirstStartLetsOpenCodeStart: Ctrl-C during the login ends it;
// OpenCode goes on without the provider and says how to log in.
func TestCtrlCAtAFirstStartLetsOpenCodeStart(t *testing.T) {
	as, gw := firstContactStack(t)
	e := newCLIEnv(t)
	oc := newOpenCode(t, e, opencodeConfig(map[string]any{"dv": withLoginTimeout(deviceProvider(as, gw.URL+"/v1", "device_code"))}))
	s := oc.inTerminal(t, "models")
	s.await(t, terminalCode, 2*time.Minute)
	s.interrupt(t)
	exit, out := s.wait(t, 2*time.Minute)
	assert.Equal(t, 0, exit, "OpenCode starts anyway: %s", out)
	assert.Contains(t, out, "Ctrl-C: the logins are cancelled")
	assert.Empty(t, listed(out, "dv"))
	assert.Contains(t, oc.sidecarLog(e), `"msg":"login cancelled"`)
}

// TestFirstStartWithoutATerminalSaysHowToLogIn: piped, as in CI, nothing
// waits for a person; OpenCode's own output names the command, and a
// config mistake is named there too.
func TestFirstStartWithoutATerminalSaysHowToLogIn(t *testing.T) {
	as, gw := firstContactStack(t)
	e := newCLIEnv(t)
	broken := codeProvider(as, gw.URL+"/v1")
	broken["options"].(map[string]any)["oauth2"].(map[string]any)["clientId"] = "{env:FIRST_CONTACT_UNSET_CLIENT_ID}"
	pc := withLoginTimeout(codeProvider(as, gw.URL+"/v1"))
	pc["name"] = "My Gateway"
	oc := newOpenCode(t, e, opencodeConfig(map[string]any{"pc": pc, "broken": broken}))
	require.NoError(t, as.ResetStats())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, r := runPiped(ctx, t, oc, "models", "pc")
	assert.Contains(t, r, "opencode-oauth2: My Gateway (pc) is not logged in, so OpenCode cannot list its models; log in with: opencode auth login -p pc")
	assert.Regexp(t, `opencode-oauth2: provider "broken": .*clientId`, r, "the config problem is in OpenCode's output")
	assert.Empty(t, oc.browserResults(t), "no browser was opened")
	stats, err := as.Stats()
	require.NoError(t, err)
	assert.Zero(t, stats["total"], "no token was requested: %v", stats)
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(oc.sidecarLog(e)), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		lines = append(lines, m)
	}
	assert.NotEmpty(t, lines)
}

// TestOpenCodeAuthLoginLogsInThroughTheSidecar: OpenCode's own login command,
// `opencode auth login -p <id> -m Browser` or `-m "Device code"`, logs in
// through the sidecar, for each of two gateways; the tokens stay in the
// sidecar's store and OpenCode's auth.json holds a non-secret placeholder.
func TestOpenCodeAuthLoginLogsInThroughTheSidecar(t *testing.T) {
	as, gw := firstContactStack(t)
	e := newCLIEnv(t)
	// Both gateways use the authorization code flow in their config; the
	// method chosen at login decides the grant (Device code for the second).
	oc := newOpenCode(t, e, opencodeConfig(map[string]any{
		"gw-one": withLoginTimeout(codeProvider(as, gw.URL+"/v1")),
		"gw-two": withLoginTimeout(deviceProvider(as, gw.URL+"/v1", "authorization_code")),
	}))
	s := oc.inTerminal(t, "auth", "login", "-p", "gw-one", "-m", "Browser")
	exit, out := s.wait(t, 3*time.Minute)
	require.Equal(t, 0, exit, out)
	assert.Regexp(t, loggedInLine, out)
	assert.NotRegexp(t, loggingIn, out, "the start-up login does not run inside `opencode auth login`")
	require.Len(t, oc.browserResults(t), 1)

	s = oc.inTerminal(t, "auth", "login", "-p", "gw-two", "-m", "Device code")
	code := s.await(t, terminalCode, 2*time.Minute)[1]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, as.ApproveDevice(ctx, code))
	exit, out = s.wait(t, 3*time.Minute)
	require.Equal(t, 0, exit, out)
	assert.Len(t, oc.browserResults(t), 1, "the device login opened no browser")

	auth, err := os.ReadFile(filepath.Join(e.home, ".local", "share", "opencode", "auth.json"))
	require.NoError(t, err)
	var entries map[string]map[string]any
	require.NoError(t, json.Unmarshal(auth, &entries))
	for _, id := range []string{"gw-one", "gw-two"} {
		assert.Equal(t, map[string]any{"type": "api", "key": "opencode-oauth2-managed"}, entries[id], "only a placeholder in OpenCode's auth.json")
	}

	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, out = runPiped(ctx, t, oc, "models")
	assert.ElementsMatch(t, gatewayModels, listed(out, "gw-one"), out)
	assert.ElementsMatch(t, gatewayModels, listed(out, "gw-two"), out)
}

// TestModelsAppearInARunningOpenCodeAfterALogin: a gateway invisible at
// start (nobody logged in, `opencode serve` has no terminal) appears in the
// running server once somebody logs in with the command line: the plugin
// reloads the instance when no session is busy, and the config hooks list
// the gateway's models. Checked through OpenCode's own HTTP API.
func TestModelsAppearInARunningOpenCodeAfterALogin(t *testing.T) {
	as, gw := firstContactStack(t)
	e := newCLIEnv(t)
	oc := newOpenCode(t, e, opencodeConfig(map[string]any{"pc": withLoginTimeout(codeProvider(as, gw.URL+"/v1"))}))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	srv := oc.serve(ctx, t)
	providerModels := func() []string { return srv.models(ctx, t, "pc") }
	require.Empty(t, providerModels(), "nobody logged in yet: OpenCode cannot list the gateway")

	login := e.start("login", "pc")
	_, err := as.BrowseAuthorization(ctx, redirectOf(t, login.await(t, startURLLine, time.Minute)))
	require.NoError(t, err)
	require.Equal(t, exitOK, login.wait(t, time.Minute), login.stderrText())

	deadline := time.Now().Add(90 * time.Second)
	for len(providerModels()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Second)
	}
	assert.ElementsMatch(t, gatewayModels, providerModels(), "the running OpenCode lists the gateway after the login; sidecar log:\n%s", oc.sidecarLog(e))
}

// TestReadmeInstallStepsWorkForANewUser: the README's install example, as
// written (only the addresses and the client id point at the test stack),
// followed step by step in a terminal with nothing cached: the first start
// logs in and lists the models, then `opencode run` answers.
func TestReadmeInstallStepsWorkForANewUser(t *testing.T) {
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	_, install, ok := strings.Cut(string(readme), "\n## Install\n")
	require.True(t, ok, "README has an Install section")
	_, block, ok := strings.Cut(install, "```json\n")
	require.True(t, ok, "the Install section has a JSON example")
	block, _, _ = strings.Cut(block, "```")
	var cfg map[string]any
	require.NoError(t, json.Unmarshal([]byte(block), &cfg))
	require.Equal(t, []any{"@vymalo/opencode-oauth2"}, cfg["plugin"])
	providers := cfg["provider"].(map[string]any)
	require.Len(t, providers, 1)
	var id string
	for k := range providers {
		id = k
	}

	as, gw := firstContactStack(t)
	options := providers[id].(map[string]any)["options"].(map[string]any)
	options["baseURL"] = gw.URL + "/v1"
	oauth := options["oauth2"].(map[string]any)
	oauth["issuer"], oauth["clientId"] = as.Issuer, testenv.ClientCodePublic

	e := newCLIEnv(t)
	oc := newOpenCode(t, e, cfg)
	s := oc.inTerminal(t, "models", id)
	exit, out := s.wait(t, 3*time.Minute)
	require.Equal(t, 0, exit, out)
	assert.ElementsMatch(t, gatewayModels, listed(out, id), out)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code, out := runPiped(ctx, t, oc, "run", "--model", id+"/"+gatewayModels[0], "hello")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, testgateway.Greeting(testenv.DemoUser))
}

// TestTheConnectDialogsFlowThroughOpenCodesHTTPAPI: the calls the TUI's
// /connect makes (GET /provider/auth, POST /provider/<id>/oauth/authorize and
// /callback, then POST /instance/dispose), against `opencode serve`: the
// gateway is offered with its two methods, authorize hands over the device
// login's URL and code for the dialog to show, and once approved the gateway's
// models are listed.
func TestTheConnectDialogsFlowThroughOpenCodesHTTPAPI(t *testing.T) {
	as, gw := firstContactStack(t)
	e := newCLIEnv(t)
	oc := newOpenCode(t, e, opencodeConfig(map[string]any{"pc": withLoginTimeout(deviceProvider(as, gw.URL+"/v1", "device_code"))}))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	srv := oc.serve(ctx, t)

	var methods map[string][]struct {
		Type  string `json:"type"`
		Label string `json:"label"`
	}
	srv.call(ctx, t, http.MethodGet, "/provider/auth", nil, &methods)
	require.Len(t, methods["pc"], 3, "%v", methods)
	assert.Equal(t, "Browser", methods["pc"][0].Label)
	assert.Equal(t, "Device code", methods["pc"][1].Label)
	assert.Equal(t, "Browser on another machine", methods["pc"][2].Label)

	var auth struct {
		URL          string `json:"url"`
		Method       string `json:"method"`
		Instructions string `json:"instructions"`
	}
	srv.call(ctx, t, http.MethodPost, "/provider/pc/oauth/authorize", map[string]any{"method": 1}, &auth)
	assert.Equal(t, "auto", auth.Method)
	assert.Contains(t, auth.URL, as.Issuer, "the dialog gets the verification URL")
	code := regexp.MustCompile(`code: (\S+)`).FindStringSubmatch(auth.Instructions)
	require.NotNil(t, code, "the dialog gets the code: %q; sidecar log:\n%s", auth.Instructions, oc.sidecarLog(e))
	require.NoError(t, as.ApproveDevice(ctx, code[1]))
	var ok bool
	srv.call(ctx, t, http.MethodPost, "/provider/pc/oauth/callback", map[string]any{"method": 1}, &ok)
	require.True(t, ok)
	srv.call(ctx, t, http.MethodPost, "/instance/dispose", nil, &ok)
	assert.ElementsMatch(t, gatewayModels, srv.models(ctx, t, "pc"))
}

// server is a running `opencode serve`.
type server struct{ base string }

// serve starts `opencode serve` on a free port of 127.0.0.1 (no terminal).
func (oc *openCode) serve(ctx context.Context, t *testing.T) *server {
	t.Helper()
	cmd := exec.CommandContext(ctx, oc.bin, "serve", "--hostname", "127.0.0.1", "--port", "0")
	cmd.Dir, cmd.Env = oc.dir, oc.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		listening := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	select {
	case base := <-urls:
		return &server{base: base}
	case <-time.After(time.Minute):
		t.Fatal("opencode serve did not say where it listens")
		return nil
	}
}

// call sends a JSON request to OpenCode's HTTP API and decodes the answer.
func (s *server) call(ctx context.Context, t *testing.T, method, path string, body, out any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, r)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 3 * time.Minute}).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s %s: %s", method, path, raw)
	require.NoError(t, json.Unmarshal(raw, out), "%s %s: %s", method, path, raw)
}

// models lists the model ids OpenCode knows for a provider (GET /config/providers).
func (s *server) models(ctx context.Context, t *testing.T, provider string) []string {
	t.Helper()
	var body struct {
		Providers []struct {
			ID     string                    `json:"id"`
			Models map[string]map[string]any `json:"models"`
		} `json:"providers"`
	}
	s.call(ctx, t, http.MethodGet, "/config/providers", nil, &body)
	for _, p := range body.Providers {
		if p.ID == provider {
			ids := make([]string, 0, len(p.Models))
			for id := range p.Models {
				ids = append(ids, id)
			}
			return ids
		}
	}
	return nil
}
