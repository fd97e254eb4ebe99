//go:build integration

package cli

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testgateway"
)

// skewedServer is an authorization server and gateway in one whose clock
// (Date header) is off by skew; everything else works.
func skewedServer(t *testing.T, skew time.Duration, device bool) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(skew).UTC().Format(http.TimeFormat))
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			doc := map[string]any{"issuer": srv.URL, "token_endpoint": srv.URL + "/token",
				"authorization_endpoint": srv.URL + "/auth", "jwks_uri": srv.URL + "/jwks"}
			if device {
				doc["device_authorization_endpoint"] = srv.URL + "/device"
			}
			_ = json.NewEncoder(w).Encode(doc)
		case "/token":
			_, _ = w.Write([]byte(`{"access_token":"fake-at","token_type":"Bearer","expires_in":300}`))
		case "/jwks":
			_, _ = w.Write([]byte(`{"keys":[]}`))
		case "/v1/models":
			_, _ = w.Write([]byte(`{"data":[{"id":"m1"}]}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestCLIDoctor runs doctor against working and broken set-ups and checks
// what it reports and its exit code.
func TestCLIDoctor(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true})
	gw := testenv.StartGateway(t, as.Issuer, as.Audience)
	forbidden := testenv.StartGatewayWithOptions(t, testgateway.Options{Issuer: as.Issuer, Audience: as.Audience,
		ModelsFault: testgateway.Fault{Status: 403, Body: `{"error":{"message":"forbidden","type":"permission_error"}}`}})
	skewed := skewedServer(t, time.Hour, false)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	withOAuth := func(p map[string]any, k string, v any) map[string]any {
		p["options"].(map[string]any)["oauth2"].(map[string]any)[k] = v
		return p
	}
	machine := func(issuer, baseURL string) map[string]any {
		return provider(baseURL, map[string]any{"issuer": issuer, "clientId": testenv.ClientCCBasic,
			"clientSecret": testenv.ClientCCBasicSecret, "authFlow": "client_credentials"})
	}
	cases := []struct {
		name     string
		provider map[string]any
		code     int
		lines    []string // regexps that must match the report
		absent   []string
	}{
		{name: "healthy", provider: ccProvider(as, gw.URL+"/v1"), code: exitOK,
			lines: []string{`ok\s+discovery`, `ok\s+issuer`, `ok\s+clock\s+within`, `ok\s+endpoints\s+token, jwks, revocation answer`,
				`ok\s+token\s+a token is at hand`, `ok\s+gateway\s+GET .*/v1/models: 3 models`, `0 failed`},
			absent: []string{"FAIL"}},
		{name: "wrong issuer", provider: machine(strings.Replace(as.Issuer, "127.0.0.1", "localhost", 1), gw.URL+"/v1"), code: exitConfig,
			lines: []string{`FAIL\s+issuer\s+the server says its issuer is "` + as.Issuer + `"`, `→ set issuer to exactly "` + as.Issuer + `"`,
				`skip\s+endpoints`}},
		{name: "unreachable issuer", provider: machine("http://"+closedPort(t), gw.URL+"/v1"), code: exitFailure,
			lines: []string{`FAIL\s+reach\s+cannot reach http://127\.0\.0\.1:\d+/\.well-known/openid-configuration: the connection was refused by 127\.0\.0\.1:\d+`,
				`→ check the issuer URL`, `skip\s+token`, `skip\s+gateway`}},
		{name: "skewed clock", provider: provider(skewed.URL+"/v1", map[string]any{"issuer": skewed.URL, "clientId": "c",
			"clientSecret": "s", "authFlow": "client_credentials"}), code: exitFailure,
			lines: []string{`FAIL\s+clock\s+the server's clock is 1h0m0s ahead of this machine's`, `timedatectl`, `ok\s+gateway`}},
		{name: "403 from /models", provider: ccProvider(as, forbidden.URL+"/v1"), code: exitFailure,
			lines: []string{`FAIL\s+gateway\s+models: GET .*/v1/models: gateway answered 403 Forbidden`,
				`the token has iss="` + as.Issuer + `", aud="http://127.0.0.1/gateway"`,
				`→ The gateway accepted the token but refused access\. Check the scopes requested`}},
		{name: "config problem", provider: withOAuth(ccProvider(as, gw.URL+"/v1"), "httpTimeoutMs", "soon"), code: exitConfig,
			lines: []string{`FAIL\s+oauth2 settings\s+provider "gw": provider\.gw\.options\.oauth2\.httpTimeoutMs`}},
		{name: "redirect port taken", provider: withOAuth(codeProvider(as, gw.URL+"/v1"), "redirectPort", busyPort), code: exitFailure,
			lines: []string{`FAIL\s+redirect port\s+port \d+ on 127\.0\.0\.1 is taken`, `WARN\s+token\s+not logged in`,
				`→ run .npx @vymalo/opencode-oauth2 login gw.`}},
		{name: "wrong client secret", provider: withOAuth(ccProvider(as, gw.URL+"/v1"), "clientSecret", "nope"), code: exitConfig,
			lines: []string{`FAIL\s+token\s+.*invalid_client`, `→ check clientId, clientSecret`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newCLIEnv(t)
			e.setConfig(opencodeConfig(map[string]any{"gw": tc.provider}))
			r := e.run("doctor")
			assert.Equal(t, tc.code, r.code)
			for _, re := range tc.lines {
				assert.Regexp(t, re, r.stdout)
			}
			for _, s := range tc.absent {
				assert.NotContains(t, r.stdout, s)
			}
			if tc.code != exitOK {
				assert.Contains(t, r.stderr, "failed")
			}
			assert.NotContains(t, r.stdout+r.stderr, testenv.ClientCCBasicSecret, "no secret in the report")
		})
	}
}

func TestCLIDoctorJSONAndScope(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true})
	e := newCLIEnv(t)
	e.setConfig(map[string]any{"provider": map[string]any{
		"good": ccProvider(as, "http://"+closedPort(t)+"/v1"),
		"bad":  provider("http://127.0.0.1:9/v1", map[string]any{"issuer": "http://" + closedPort(t), "clientId": "c", "authFlow": "client_credentials"}),
	}})

	r := e.run("doctor", "--json", "good")
	assert.Equal(t, exitFailure, r.code, "the gateway is down")
	var rep report
	decodeJSON(t, r.stdout, &rep)
	assert.False(t, rep.OK)
	sections := map[string]bool{}
	byName := map[string]checkResult{}
	for _, ch := range rep.Checks {
		sections[ch.Section] = true
		if ch.Section == "provider good" {
			byName[ch.Name] = ch
		}
	}
	assert.Equal(t, map[string]bool{"config": true, "host": true, "cache": true, "provider good": true}, sections, "only the named provider")
	assert.Equal(t, statusOK, byName["token"].Status)
	assert.Equal(t, statusFail, byName["gateway"].Status)
	assert.NotEmpty(t, byName["gateway"].Fix)

	var plugin checkResult
	for _, ch := range rep.Checks {
		if ch.Name == "plugin" {
			plugin = ch
		}
	}
	assert.Equal(t, statusWarn, plugin.Status, "the config does not list the plugin")

	assert.Equal(t, exitUsage, e.run("doctor", "nope").code)
}

func TestCLIDoctorWithoutConfig(t *testing.T) {
	e := newCLIEnv(t)
	r := e.run("doctor")
	assert.Equal(t, exitConfig, r.code)
	assert.Regexp(t, `WARN\s+sources\s+no OpenCode config was found`, r.stdout)
	assert.Regexp(t, `FAIL\s+providers\s+no provider has an oauth2 block`, r.stdout)

	require.NoError(t, writeFile(e.work+"/opencode.jsonc", "{ // broken\n  \"provider\": {,}\n}"))
	r = e.run("doctor")
	assert.Equal(t, exitConfig, r.code)
	assert.Regexp(t, `FAIL\s+read\s+OpenCode config .*opencode\.jsonc: line 2`, r.stdout)
}

// TestDoctorProbesEndpointsAsTheyAreUsed (#17): the device authorization
// endpoint only serves POST; oidc-provider answers a GET with HTTP 500, which
// doctor reported as trouble. POST-only endpoints get an empty POST, and an
// OAuth error answer (400/401) means they are alive.
func TestDoctorProbesEndpointsAsTheyAreUsed(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true})
	e := newCLIEnv(t)
	e.setConfig(opencodeConfig(map[string]any{"dv": deviceProvider(as, "http://127.0.0.1:9/v1", "device_code")}))
	r := e.run("doctor", "--json", "dv")
	var rep report
	decodeJSON(t, r.stdout, &rep)
	found := false
	for _, ch := range rep.Checks {
		if ch.Name != "endpoints" {
			continue
		}
		assert.Equal(t, statusOK, ch.Status, "%s", ch.Detail)
		if strings.Contains(ch.Detail, "device authorization") {
			found = true
		}
	}
	assert.True(t, found, "the device authorization endpoint was probed: %+v", rep.Checks)
}
