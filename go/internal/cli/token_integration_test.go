//go:build integration

package cli

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/store"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
)

// TestCLIToken runs `token` against the real authorization server for a
// machine flow and for a user flow seeded with a refresh token.
func TestCLIToken(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true})
	gw := testenv.StartGateway(t, as.Issuer, as.Audience)
	login := loginOnce(t, as)

	badSecret := ccProvider(as, gw.URL+"/v1")
	badSecret["options"].(map[string]any)["oauth2"].(map[string]any)["clientSecret"] = "wrong"
	badPort := codeProvider(as, gw.URL+"/v1")
	badPort["options"].(map[string]any)["oauth2"].(map[string]any)["redirectPort"] = "abc"

	cases := []struct {
		name     string
		args     []string
		seed     map[string]store.State // provider id → state
		code     int
		stdout   func(t *testing.T, out string)
		stderr   string
		refreshs int // refresh_token grants the call makes
	}{
		{name: "client_credentials prints a token the gateway accepts", args: []string{"token", "cc"}, code: exitOK,
			stdout: func(t *testing.T, out string) {
				require.True(t, strings.HasSuffix(out, "\n"))
				tok := strings.TrimSuffix(out, "\n")
				assert.Len(t, strings.Split(tok, "."), 3, "a JWT")
				assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, "Bearer "+tok))
			}},
		{name: "--header prints the Authorization line", args: []string{"token", "--header", "cc"}, code: exitOK,
			stdout: func(t *testing.T, out string) {
				line := strings.TrimSuffix(out, "\n")
				require.True(t, strings.HasPrefix(line, "Authorization: Bearer "), line)
				assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, strings.TrimPrefix(line, "Authorization: ")))
			}},
		{name: "flags after the provider id", args: []string{"token", "cc", "--header"}, code: exitOK,
			stdout: func(t *testing.T, out string) { assert.True(t, strings.HasPrefix(out, "Authorization: Bearer ")) }},
		{name: "authorization_code refreshes an expired token", args: []string{"token", "pc"},
			seed: map[string]store.State{"pc": tokenState(login, true)}, code: exitOK, refreshs: 1,
			stdout: func(t *testing.T, out string) {
				tok := strings.TrimSuffix(out, "\n")
				assert.NotEqual(t, login.AccessToken, tok, "a refreshed token")
				assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, "Bearer "+tok))
			}},
		{name: "a cached fresh token is printed without a request", args: []string{"token", "pc"}, code: exitOK, refreshs: 0,
			stdout: func(t *testing.T, out string) { assert.NotEmpty(t, strings.TrimSpace(out)) }},
		{name: "no login cached: exit 3", args: []string{"token", "pc2"}, code: exitLoginRequired,
			stderr: "run `npx @vymalo/opencode-oauth2 login pc2` (or pass --login)"},
		{name: "rejected refresh token: exit 3", args: []string{"token", "pc2"},
			seed: map[string]store.State{"pc2": {Token: &store.Token{AccessToken: "old", RefreshToken: "not-a-real-refresh-token",
				ExpiresAt: time.Now().Add(-time.Minute)}}},
			code: exitLoginRequired, stderr: "invalid_grant", refreshs: 1},
		{name: "wrong client secret: exit 4", args: []string{"token", "bad-secret"}, code: exitConfig, stderr: "invalid_client"},
		{name: "provider with config errors: exit 4", args: []string{"token", "bad-port"}, code: exitConfig, stderr: "redirectPort"},
		{name: "unknown provider: exit 2", args: []string{"token", "nope"}, code: exitUsage, stderr: "managed providers: bad-secret, cc, pc, pc2"},
		{name: "no provider: exit 2", args: []string{"token"}, code: exitUsage, stderr: "missing the provider id"},
		{name: "unknown flag: exit 2", args: []string{"token", "--frobnicate", "cc"}, code: exitUsage, stderr: "unknown flag --frobnicate"},
	}
	e := newCLIEnv(t)
	e.setConfig(opencodeConfig(map[string]any{
		"cc": ccProvider(as, gw.URL+"/v1"), "pc": codeProvider(as, gw.URL+"/v1"), "pc2": codeProvider(as, gw.URL+"/v1"),
		"bad-secret": badSecret, "bad-port": badPort,
	}))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			for id, st := range tc.seed {
				e.seed(id, st)
			}
			require.NoError(t, as.ResetStats())
			r := e.run(tc.args...)
			assert.Equal(t, tc.code, r.code)
			if tc.stdout != nil {
				tc.stdout(t, r.stdout)
			} else {
				assert.Empty(t, r.stdout, "nothing on stdout when there is no token")
			}
			assert.Contains(t, r.stderr, tc.stderr)
			stats, err := as.Stats()
			require.NoError(t, err)
			assert.Equal(t, tc.refreshs, stats["refresh_token"], "%v", stats)
			if tc.code != exitOK {
				assert.NotContains(t, r.stderr, login.RefreshToken)
			}
		})
	}
}
