//go:build integration

package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/store"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
)

// TestCLIMessagesUsersCanActOn (#17): network failures are worded as
// doctor words them, once (no warning repeating the error); a config value
// from {env:...} names the placeholder and the variable.
func TestCLIMessagesUsersCanActOn(t *testing.T) {
	dead := "http://" + closedPort(t)
	e := newCLIEnv(t)
	e.setConfig(opencodeConfig(map[string]any{
		"cc": provider(dead+"/v1", map[string]any{"issuer": dead, "clientId": "c", "clientSecret": "s", "authFlow": "client_credentials"}),
		"pc": provider(dead+"/v1", map[string]any{"issuer": dead, "clientId": "c", "authFlow": "authorization_code", "scopes": []string{"openid"}}),
	}))
	for _, args := range [][]string{{"token", "cc"}, {"models", "cc"}, {"models", "--refresh", "cc"}, {"login", "--no-browser", "pc"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			e.t = t
			r := e.run(args...)
			assert.Equal(t, exitFailure, r.code)
			assert.Regexp(t, `the connection was refused by 127\.0\.0\.1:\d+ \(nothing listens there\)\n  → check the URL \(host and port\) and that the server is running; check the network, VPN and proxy settings`, r.stderr)
			assert.NotContains(t, r.stderr, "dial tcp", "no raw Go error")
			assert.NotContains(t, r.stderr, "warning:", "the error is said once, not first as a warning")
		})
	}

	t.Run("a value from {env:} names the placeholder", func(t *testing.T) {
		e.t = t
		cfg := opencodeConfig(map[string]any{"gw": provider("{env:GATEWAY_URL}", map[string]any{
			"issuer": dead, "clientId": "c", "clientSecret": "s", "authFlow": "client_credentials"})})
		e.setConfig(cfg)
		r := e.run("status")
		assert.Contains(t, r.stderr, `provider.gw.options.baseURL must be an absolute https URL of the OpenAI-compatible API, like "https://llm.example.com/v1", found ""; the value comes from {env:GATEWAY_URL}, and the environment variable GATEWAY_URL is empty or not set`)
		r = e.run("token", "gw")
		assert.Equal(t, exitConfig, r.code)
		assert.Contains(t, r.stderr, "{env:GATEWAY_URL}, and the environment variable GATEWAY_URL is empty or not set")
	})
	t.Run("a value from {env:} is never shown, it may be a secret", func(t *testing.T) {
		e.t = t
		const value = "sk-live-0123456789abcdef-not-a-url"
		e.extra = append(e.extra, "GATEWAY_URL="+value)
		defer func() { e.extra = e.extra[:len(e.extra)-1] }()
		e.setConfig(opencodeConfig(map[string]any{"gw": provider("{env:GATEWAY_URL}", map[string]any{
			"issuer": dead, "clientId": "c", "clientSecret": "s", "authFlow": "client_credentials"})}))
		for _, args := range [][]string{{"status"}, {"status", "--json"}, {"doctor"}, {"token", "gw"}} {
			r := e.run(args...)
			assert.Contains(t, r.stdout+r.stderr, "{env:GATEWAY_URL}, the environment variable GATEWAY_URL", args)
			assert.NotContains(t, r.stdout+r.stderr, "0123456789abcdef", args)
		}
	})
}

// TestCLIStatusIsTruthful (#17): a rejected refresh token leaves its reason
// in status; a later success clears a stale error about getting a token;
// long errors are cut at a word in the table and whole in --json.
func TestCLIStatusIsTruthful(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true})
	e := newCLIEnv(t)
	e.setConfig(opencodeConfig(map[string]any{
		"pc": codeProvider(as, "http://127.0.0.1:9/v1"), "cc": ccProvider(as, "http://127.0.0.1:9/v1"),
	}))

	// An expired access token with a refresh token the server does not know.
	e.seed("pc", store.State{Token: &store.Token{AccessToken: "at-old", RefreshToken: "rt-unknown-to-the-server",
		ExpiresAt: time.Now().Add(-time.Minute), ObtainedAt: time.Now().Add(-time.Hour)}})
	r := e.run("token", "pc")
	assert.Equal(t, exitLoginRequired, r.code)
	r = e.run("status", "--json", "pc")
	var doc statusJSON
	decodeJSON(t, r.stdout, &doc)
	require.Len(t, doc.Providers, 1)
	assert.Contains(t, doc.Providers[0].LastError, "the refresh token was rejected, a new login is needed")
	assert.Contains(t, doc.Providers[0].LastError, "invalid_grant")
	assert.NotContains(t, r.stdout, "rt-unknown-to-the-server")

	r = e.run("status", "pc")
	row := lineOf(r.stdout, "pc ")
	assert.Contains(t, row, "no token: the refresh token was rejected")
	assert.Regexp(t, `[a-z,.;:)]…$`, row, "cut after a whole word")
	assert.Contains(t, r.stderr, "status --json", "where the full text is")

	// A stale "no token" error goes away with the next success.
	e.seed("cc", store.State{LastError: "no token: provider \"cc\": the connection was refused"})
	require.Equal(t, exitOK, e.run("token", "cc").code)
	assert.Empty(t, e.loaded("cc").LastError, "a later success clears the stale error")
}

func lineOf(text, prefix string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimRight(l, " ")
		}
	}
	return ""
}
