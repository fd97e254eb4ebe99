//go:build integration

package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/browser"
	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/syncbuf"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
)

const chromiumPath = "/usr/bin/chromium"

// chromiumResult is what testdata/chromium-login.mjs reports.
type chromiumResult struct {
	OK    bool   `json:"ok"`
	Page  string `json:"page"`
	Text  string `json:"text"`
	At    string `json:"at"`
	Error string `json:"error"`
}

// waitForResult polls for the script's result file, bounded.
func waitForResult(t *testing.T, path string, limit time.Duration) chromiumResult {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			var r chromiumResult
			require.NoError(t, json.Unmarshal(b, &r), "result file: %s", b)
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the browser script wrote no result within %s", limit)
	return chromiumResult{}
}

// TestAuthorizationCodeWithHeadlessChromium: the real opener (package
// browser, through OPENCODE_OAUTH2_BROWSER) starts a real headless Chromium
// that signs in on the server's login form and lands on the loopback page.
func TestAuthorizationCodeWithHeadlessChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("%s is missing: install it with `apt-get install -y chromium` (this test is never skipped)", chromiumPath)
	}
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node is required")
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(root, "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("node_modules/playwright-core is missing: run `npm ci` in %s", root)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "chromium-login.mjs"))
	require.NoError(t, err)

	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{})
	gw := testenv.StartGateway(t, as.Issuer, as.Audience)
	p := userProvider(as, config.AuthorizationCode, testenv.ClientCodePublic)
	p.LoginTimeout = 90 * time.Second
	resultFile := filepath.Join(t.TempDir(), "result.json")
	command := strings.Join([]string{`"` + node + `"`, `"` + script + `"`, `"` + resultFile + `"`}, " ")

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	var prompts []oauth.Prompt
	logs := &syncbuf.Buffer{}
	c := userClient(t, p, logs, oauth.Options{
		Getenv: func(k string) string {
			if k == browser.EnvVar {
				return command
			}
			return os.Getenv(k)
		},
		Prompt: func(pr oauth.Prompt) {
			prompts = append(prompts, pr)
			if strings.Contains(pr.Message, "open this URL in a browser") {
				cancel() // the opener failed: nobody will log in, do not wait
			}
		},
	})
	tok, err := c.Acquire(ctx)
	if errors.Is(err, context.Canceled) {
		t.Fatalf("the browser opener failed; log:\n%s", logs.String())
	}
	require.NoError(t, err)
	res := waitForResult(t, resultFile, 30*time.Second)
	assert.True(t, res.OK, "%+v", res)
	assert.Equal(t, "login-success", res.Page)
	assert.Contains(t, res.Text, "Test Gateway")
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/oauth2/callback$`, res.At)
	assert.Equal(t, 200, gatewayStatus(t, gw, tok.AccessToken))
	require.Len(t, prompts, 1)
	assert.Contains(t, prompts[0].Message, "browser window was opened")
}
