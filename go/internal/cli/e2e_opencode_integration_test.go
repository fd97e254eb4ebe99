//go:build integration

package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testgateway"
)

// TestOpenCodeAnswersAfterInteractiveLogins: a person logs in ahead of time
// with the command line (the device grant approved on the server's pages,
// the authorization code through the loopback redirect), then the real
// OpenCode, with the plugin loaded, answers through the gateway with the
// users' tokens for both providers.
func TestOpenCodeAnswersAfterInteractiveLogins(t *testing.T) {
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	opencode := filepath.Join(root, "node_modules", ".bin", "opencode")
	plugin := filepath.Join(root, "js-shim", "dist", "index.js")
	for _, f := range []string{opencode, plugin} {
		_, err := os.Stat(f)
		require.NoError(t, err, "%s is missing: run `npm install` and `npm run build:shim` (the test:go task does)", f)
	}
	bin, err := buildOnce()
	require.NoError(t, err)

	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true, DeviceInterval: time.Second})
	gw := testenv.StartGatewayWithOptions(t, testgateway.Options{Issuer: as.Issuer, Audience: as.Audience, AcceptUnknownModels: true})
	e := newCLIEnv(t)
	withModel := func(p map[string]any) map[string]any {
		p["models"] = map[string]any{"m": map[string]any{"name": "Gateway model"}}
		return p
	}
	cfg := opencodeConfig(map[string]any{
		"dv": withModel(deviceProvider(as, gw.URL+"/v1", "device_code")),
		"pc": withModel(codeProvider(as, gw.URL+"/v1")),
	})
	cfg["plugin"] = []string{"file://" + plugin}
	e.setConfig(cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	device := e.start("login", "dv")
	require.NoError(t, as.ApproveDevice(ctx, device.await(t, userCodeLine, 30*time.Second)))
	require.Equal(t, exitOK, device.wait(t, 30*time.Second), device.stderrText())
	code := e.start("login", "pc")
	_, err = as.BrowseAuthorization(ctx, redirectOf(t, code.await(t, startURLLine, 30*time.Second)))
	require.NoError(t, err)
	require.Equal(t, exitOK, code.wait(t, 30*time.Second), code.stderrText())

	// OpenCode installs @opencode-ai/plugin into each config directory
	// unless it is already there (see the host reference); pre-empt it.
	confDir := filepath.Join(e.xdg, "opencode")
	require.NoError(t, os.MkdirAll(filepath.Join(confDir, "node_modules"), 0o700))
	require.NoError(t, writeFile(filepath.Join(confDir, "package.json"), `{"dependencies":{"@opencode-ai/plugin":"1.18.33"}}`))
	require.NoError(t, writeFile(filepath.Join(confDir, "package-lock.json"),
		`{"lockfileVersion":3,"packages":{"":{"dependencies":{"@opencode-ai/plugin":"1.18.33"}}}}`))

	env := append(e.environ(),
		"XDG_DATA_HOME="+filepath.Join(e.home, ".local", "share"), "XDG_STATE_HOME="+filepath.Join(e.home, ".local", "state"),
		"OPENCODE_DISABLE_MODELS_FETCH=1", "OPENCODE_DISABLE_AUTOUPDATE=1", "OPENCODE_DISABLE_SHARE=1",
		"OPENCODE_DISABLE_LSP_DOWNLOAD=1", "OPENCODE_DISABLE_DEFAULT_PLUGINS=1",
		"OPENCODE_OAUTH2_BINARY="+bin, "OPENCODE_OAUTH2_INTERACTIVE=0", "PWD="+e.work)

	gw.ResetStats()
	for _, id := range []string{"dv", "pc"} {
		t.Run(id, func(t *testing.T) {
			rctx, rcancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer rcancel()
			cmd := exec.CommandContext(rctx, opencode, "run", "--model", id+"/m", "say hello")
			cmd.Dir, cmd.Env = e.work, env
			cmd.WaitDelay = 10 * time.Second
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "opencode run: %s", tail(string(out), 2000))
			assert.Contains(t, string(out), testgateway.Greeting(testenv.DemoUser), "the answer was made for the logged-in user")
		})
	}
	stats := gw.Stats()
	assert.Zero(t, stats.Unauthorized, "no request reached the gateway without a valid token")
	assert.Positive(t, stats.Authorized)
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
