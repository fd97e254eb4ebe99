//go:build integration

package cli

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
)

var (
	userCodeLine = regexp.MustCompile(`^\s+code: (\S+)$`)
	startURLLine = regexp.MustCompile(`^\s+(http://127\.0\.0\.1:\d+/\S*)$`)
)

func deviceProvider(as *testenv.AuthServer, baseURL, flow string) map[string]any {
	return provider(baseURL, map[string]any{
		"issuer": as.Issuer, "clientId": testenv.ClientDevicePublic, "authFlow": flow,
		"scopes": []string{"openid", "offline_access"},
	})
}

// TestCLILoginDevice logs in with --device the way a person at another
// device would, while a running sidecar waits for a login: the sidecar
// picks up the CLI's login from the shared cache.
func TestCLILoginDevice(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true, DeviceInterval: time.Second})
	gw := testenv.StartGateway(t, as.Issuer, as.Audience)
	e := newCLIEnv(t)
	// authorization_code is configured; --device overrides it for this login.
	e.setConfig(opencodeConfig(map[string]any{"dv": deviceProvider(as, gw.URL+"/v1", "authorization_code")}))

	car := startSidecar(t, "OPENCODE_OAUTH2_CACHE_DIR="+e.cache, "HOME="+e.home)
	require.Nil(t, car.call(t, "initialize", map[string]any{"protocolVersion": 1, "interactive": false})["error"])
	require.Nil(t, car.call(t, "config/apply", map[string]any{"config": e.config})["error"])
	resp := car.call(t, "headers/get", map[string]any{"providerID": "dv", "modelID": "m"})
	require.NotNil(t, resp["error"], "no login yet")

	login := e.start("login", "--device", "dv")
	code := login.await(t, userCodeLine, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, as.ApproveDevice(ctx, code))
	require.Equal(t, exitOK, login.wait(t, 30*time.Second))
	assert.Contains(t, login.stderrText(), "Logged in to dv as "+testenv.DemoUser+" with device_code")
	assert.Empty(t, login.stdout.String())

	// The sidecar sees the login within its polling period.
	var header string
	require.Eventually(t, func() bool {
		resp := car.call(t, "headers/get", map[string]any{"providerID": "dv", "modelID": "m"})
		if resp["error"] != nil {
			return false
		}
		header, _ = resp["result"].(map[string]any)["headers"].(map[string]any)["Authorization"].(string)
		return header != ""
	}, 10*time.Second, 200*time.Millisecond)
	assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, header))

	r := e.run("token", "dv")
	require.Equal(t, exitOK, r.code)
	assert.Equal(t, header, "Bearer "+strings.TrimSpace(r.stdout), "one login, one token for the CLI and OpenCode")

	r = e.run("login", "dv")
	assert.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stderr, "Already logged in to dv as alice")
}

// TestCLILoginAuthorizationCode logs in through the loopback redirect with
// a scripted browser, then shows the login in status.
func TestCLILoginAuthorizationCode(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true})
	e := newCLIEnv(t)
	e.setConfig(opencodeConfig(map[string]any{"pc": codeProvider(as, "http://127.0.0.1:9/v1")}))

	login := e.start("login", "pc") // OPENCODE_OAUTH2_BROWSER=none: the URL is printed
	start := login.await(t, startURLLine, 30*time.Second)
	authorize := redirectOf(t, start)
	require.True(t, strings.HasPrefix(authorize, as.AuthorizationURL()), authorize)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, err := as.BrowseAuthorization(ctx, authorize)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	require.Equal(t, exitOK, login.wait(t, 30*time.Second))
	assert.Contains(t, login.stderrText(), "Logged in to pc as alice with authorization_code")

	r := e.run("status", "--json", "pc")
	require.Equal(t, exitOK, r.code)
	var doc statusJSON
	decodeJSON(t, r.stdout, &doc)
	require.Len(t, doc.Providers, 1)
	require.NotNil(t, doc.Providers[0].Identity)
	assert.Equal(t, "alice", doc.Providers[0].Identity.Subject)
	assert.True(t, doc.Providers[0].Token.RefreshToken)

	// --force logs in again even though a login is cached.
	again := e.start("login", "--force", "--no-browser", "pc")
	start = again.await(t, startURLLine, 30*time.Second)
	_, err = as.BrowseAuthorization(ctx, redirectOf(t, start))
	require.NoError(t, err)
	require.Equal(t, exitOK, again.wait(t, 30*time.Second))
}

// redirectOf returns where the loopback start page sends the browser.
func redirectOf(t *testing.T, start string) string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := client.Get(start)
	require.NoError(t, err)
	_ = resp.Body.Close()
	loc, err := resp.Location()
	require.NoError(t, err)
	return loc.String()
}

func TestCLILoginOtherCases(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true})
	noDevice := skewedServer(t, 0, false)
	cases := []struct {
		name     string
		provider map[string]any
		args     []string
		code     int
		stderr   string
	}{
		{name: "machine flow needs no login", provider: ccProvider(as, "http://127.0.0.1:9/v1"), args: []string{"login", "p"},
			code: exitOK, stderr: "uses the client_credentials flow: no login needed. A token was obtained"},
		{name: "--device on a machine flow", provider: ccProvider(as, "http://127.0.0.1:9/v1"), args: []string{"login", "--device", "p"},
			code: exitUsage, stderr: "--device applies to user logins only"},
		{name: "--device without a device endpoint", provider: provider("http://127.0.0.1:9/v1", map[string]any{
			"issuer": noDevice.URL, "clientId": "c", "authFlow": "authorization_code", "scopes": []string{"offline_access"}}),
			args: []string{"login", "--device", "p"}, code: exitFailure, stderr: "does not support device logins: the server metadata of " + noDevice.URL + " has no device_authorization_endpoint"},
		{name: "denied device login", provider: deviceProvider(as, "http://127.0.0.1:9/v1", "device_code"), args: []string{"login", "p"},
			code: exitFailure, stderr: "the device login was denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newCLIEnv(t)
			e.setConfig(opencodeConfig(map[string]any{"p": tc.provider}))
			if strings.Contains(tc.name, "denied") {
				run := e.start(tc.args...)
				code := run.await(t, userCodeLine, 30*time.Second)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				require.NoError(t, as.DenyDevice(ctx, code))
				assert.Equal(t, tc.code, run.wait(t, 30*time.Second))
				assert.Contains(t, run.stderrText(), tc.stderr)
				return
			}
			r := e.run(tc.args...)
			assert.Equal(t, tc.code, r.code)
			assert.Contains(t, r.stderr, tc.stderr)
		})
	}
}
