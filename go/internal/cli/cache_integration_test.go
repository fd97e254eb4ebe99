//go:build integration

package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/models"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testgateway"
)

// TestCLIStatus reads the cache only: a logged-in user flow (identity from
// the id_token), a machine flow without a token, and a provider skipped for
// its config errors.
func TestCLIStatus(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true})
	login := loginOnce(t, as)
	e := newCLIEnv(t)
	broken := codeProvider(as, "http://127.0.0.1:9/v1")
	delete(broken["options"].(map[string]any)["oauth2"].(map[string]any), "clientId")
	e.setConfig(opencodeConfig(map[string]any{
		"cc": ccProvider(as, "http://127.0.0.1:9/v1"), "pc": codeProvider(as, "http://127.0.0.1:9/v1"), "broken": broken,
	}))
	st := tokenState(login, false)
	list, err := json.Marshal([]models.Model{{ID: "gpt-4o-mini", Name: "GPT 4o Mini"}, {ID: "glm-5", Name: "GLM 5"}})
	require.NoError(t, err)
	st.Models, st.LastSyncAt, st.LastError = list, time.Now().Add(-time.Hour), "models: GET http://127.0.0.1:9/v1/models: refused"
	e.seed("pc", st)
	require.NoError(t, as.ResetStats())

	t.Run("json", func(t *testing.T) {
		e.t = t
		r := e.run("status", "--json")
		require.Equal(t, exitOK, r.code)
		var doc statusJSON
		decodeJSON(t, r.stdout, &doc)
		assert.Equal(t, e.cache, doc.CacheDir)
		require.Len(t, doc.ConfigSources, 1)
		assert.Equal(t, "global", doc.ConfigSources[0].Kind)
		byID := map[string]providerStatus{}
		for _, p := range doc.Providers {
			byID[p.ID] = p
		}
		require.Len(t, byID, 2, "the broken provider is not managed")
		pc := byID["pc"]
		assert.Equal(t, "authorization_code", pc.Flow)
		require.NotNil(t, pc.Identity)
		assert.Equal(t, testenv.DemoUser, pc.Identity.Subject)
		assert.False(t, pc.Identity.Verified)
		assert.True(t, pc.Token.Present)
		assert.True(t, pc.Token.Fresh)
		assert.True(t, pc.Token.RefreshToken)
		assert.False(t, pc.Token.Expired)
		assert.Equal(t, 2, pc.Models)
		require.False(t, pc.LastSyncAt.IsZero())
		assert.Contains(t, pc.LastError, "refused")
		assert.True(t, strings.HasPrefix(pc.CacheFile, e.cache))
		cc := byID["cc"]
		assert.False(t, cc.Token.Present)
		assert.Nil(t, cc.Identity)
		assert.True(t, cc.LastSyncAt.IsZero())
		var sawBroken bool
		for _, p := range doc.Problems {
			sawBroken = sawBroken || (p.ProviderID == "broken" && p.Severity == "error")
		}
		assert.True(t, sawBroken, "%v", doc.Problems)
		require.Len(t, doc.Skipped, 1, "the provider skipped for its config is listed with its problem")
		assert.Equal(t, "broken", doc.Skipped[0].ID)
		require.Len(t, doc.Skipped[0].Problems, 1)
		assert.Contains(t, doc.Skipped[0].Problems[0], "clientId is missing")
		assert.NotContains(t, r.stdout, login.AccessToken, "no secret in the status")
		assert.NotContains(t, r.stdout, login.RefreshToken)
	})
	t.Run("table", func(t *testing.T) {
		e.t = t
		r := e.run("status")
		require.Equal(t, exitOK, r.code)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		require.GreaterOrEqual(t, len(lines), 4)
		assert.Regexp(t, `^PROVIDER\s+FLOW\s+IDENTITY\s+ACCESS TOKEN\s+REFRESH\s+STORED IN\s+MODELS\s+LAST SYNC\s+LAST ERROR`, lines[0])
		assert.Regexp(t, `pc\s+authorization_code\s+alice\s+expires in .*\s+yes\s+file\s+2\s+1h0m\d+s ago`, r.stdout)
		assert.Regexp(t, `cc\s+client_credentials\s+client cc-basic\s+none\s+no\s+file\s+0\s+never`, r.stdout)
		assert.Regexp(t, `broken\s+skipped.*config error: clientId is missing`, r.stdout)
		assert.Contains(t, r.stderr, "without verifying it")
	})
	t.Run("one provider", func(t *testing.T) {
		e.t = t
		r := e.run("status", "--json", "cc")
		require.Equal(t, exitOK, r.code)
		var doc statusJSON
		decodeJSON(t, r.stdout, &doc)
		require.Len(t, doc.Providers, 1)
		assert.Equal(t, "cc", doc.Providers[0].ID)
	})
	stats, err := as.Stats()
	require.NoError(t, err)
	assert.Zero(t, stats["total"], "status makes no token request: %v", stats)
}

// TestCLIModels lists cached models, refreshes them from the gateway, and
// explains a 403.
func TestCLIModels(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true})
	gw := testenv.StartGatewayWithOptions(t, testgateway.Options{Issuer: as.Issuer, Audience: as.Audience,
		Models: []string{"gpt-4o-mini", "qwen2-72b-instruct"}})
	e := newCLIEnv(t)
	e.setConfig(opencodeConfig(map[string]any{"cc": ccProvider(as, gw.URL+"/v1"), "pc": codeProvider(as, gw.URL+"/v1")}))

	r := e.run("models", "--refresh", "pc")
	assert.Equal(t, exitLoginRequired, r.code, "a user flow without a login")
	assert.Contains(t, r.stderr, "login pc`")
	r = e.run("models", "pc")
	assert.Equal(t, exitLoginRequired, r.code, "nothing cached: the list is fetched, which needs a login")

	// Nothing cached: the list is fetched without --refresh, as gh or kubectl would.
	r = e.run("models", "cc")
	require.Equal(t, exitOK, r.code)
	assert.Regexp(t, `(?m)^ID\s+NAME\s+CONTEXT\s+MAX OUTPUT$`, r.stdout)
	assert.Regexp(t, `(?m)^gpt-4o-mini\s+GPT 4o Mini\s+-\s+-$`, r.stdout)
	assert.Regexp(t, `(?m)^qwen2-72b-instruct\s+Qwen2 72B Instruct\s+`, r.stdout)
	assert.Equal(t, 1, gw.Stats().ModelsRequests)

	r = e.run("models", "--refresh", "cc")
	require.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stdout, "gpt-4o-mini")
	assert.Equal(t, 2, gw.Stats().ModelsRequests)

	gw.SetModels([]string{"glm-5"})
	r = e.run("models", "--json", "cc")
	require.Equal(t, exitOK, r.code)
	var doc modelsJSON
	decodeJSON(t, r.stdout, &doc)
	assert.Equal(t, "cc", doc.Provider)
	require.False(t, doc.LastSyncAt.IsZero())
	require.Len(t, doc.Models, 2, "the cached list, not the gateway's new one")
	assert.Equal(t, "GPT 4o Mini", doc.Models[0].Name)
	assert.Equal(t, 2, gw.Stats().ModelsRequests)

	gw.SetModelsFault(testgateway.Fault{Status: 403, Body: `{"error":{"message":"not allowed","type":"permission_error"}}`})
	r = e.run("models", "--refresh", "--json", "cc")
	assert.Equal(t, exitFailure, r.code)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "403")
	assert.Contains(t, r.stderr, "refused access")
	assert.Contains(t, e.loaded("cc").LastError, "403", "the failure is recorded for status")

	r = e.run("models", "cc")
	require.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stdout, "gpt-4o-mini", "a failed sync keeps the last good list")
}

// TestCLILogout deletes the cached tokens and revokes them: the refresh
// token no longer works at the server.
func TestCLILogout(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true})
	e := newCLIEnv(t)
	e.setConfig(opencodeConfig(map[string]any{
		"pc": codeProvider(as, "http://127.0.0.1:9/v1"), "cc": ccProvider(as, "http://127.0.0.1:9/v1"),
	}))

	t.Run("revokes the refresh token", func(t *testing.T) {
		e.t = t
		login := loginOnce(t, as)
		st := tokenState(login, false)
		st.Models = json.RawMessage(`[{"id":"m","name":"M"}]`)
		e.seed("pc", st)
		require.NoError(t, as.ResetStats())

		r := e.run("logout", "pc")
		require.Equal(t, exitOK, r.code)
		assert.Empty(t, r.stdout)
		assert.Contains(t, r.stderr, "deleted the cached tokens")
		assert.Contains(t, r.stderr, "revoked the refresh token at "+as.Issuer)
		assert.Regexp(t, `access token`, r.stderr, "the access token's fate is reported too")
		assert.NotContains(t, r.stderr, login.RefreshToken)
		assert.NotContains(t, r.stderr, login.AccessToken)

		stats, err := as.Stats()
		require.NoError(t, err)
		assert.GreaterOrEqual(t, stats["endpoint:revocation"], 1, "%v", stats)
		err = refreshWith(t, as, login.RefreshToken)
		require.Error(t, err, "the revoked refresh token no longer works")
		assert.Contains(t, err.Error(), "invalid_grant")

		left := e.loaded("pc")
		assert.Nil(t, left.Token, "no token left in the cache")
		assert.JSONEq(t, `[{"id":"m","name":"M"}]`, string(left.Models), "models are kept")
	})
	t.Run("nothing cached", func(t *testing.T) {
		e.t = t
		r := e.run("logout", "pc")
		require.Equal(t, exitOK, r.code)
		assert.Contains(t, r.stderr, "no tokens were cached")
	})
	t.Run("--all with a machine token", func(t *testing.T) {
		e.t = t
		require.Equal(t, exitOK, e.run("token", "cc").code)
		require.NotNil(t, e.loaded("cc").Token)
		r := e.run("logout", "--all")
		require.Equal(t, exitOK, r.code)
		assert.Contains(t, r.stderr, "cc: deleted the cached tokens")
		assert.Contains(t, r.stderr, "pc: no tokens were cached")
		assert.Nil(t, e.loaded("cc").Token)
	})
	t.Run("--local-only does not contact the server", func(t *testing.T) {
		e.t = t
		login := loginOnce(t, as)
		e.seed("pc", tokenState(login, false))
		require.NoError(t, as.ResetStats())
		r := e.run("logout", "--local-only", "pc")
		require.Equal(t, exitOK, r.code)
		assert.Contains(t, r.stderr, "not revoked (--local-only)")
		stats, err := as.Stats()
		require.NoError(t, err)
		assert.Zero(t, stats["endpoint:revocation"])
		assert.NoError(t, refreshWith(t, as, login.RefreshToken), "still valid at the server")
	})
	t.Run("after a scope change: the earlier configuration's file is deleted and its refresh token revoked", func(t *testing.T) {
		e.t = t
		login := loginOnce(t, as)
		e.seed("pc", tokenState(login, false)) // written under the current cache key
		before := e.config
		changed := codeProvider(as, "http://127.0.0.1:9/v1")
		changed["options"].(map[string]any)["oauth2"].(map[string]any)["scopes"] = []string{"openid", "offline_access", "profile"}
		e.setConfig(opencodeConfig(map[string]any{"pc": changed, "cc": ccProvider(as, "http://127.0.0.1:9/v1")}))
		defer e.setConfig(before)
		r := e.run("logout", "pc")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stderr, "deleted 1 cache file(s) of an earlier configuration")
		assert.Contains(t, r.stderr, "revoked the refresh token of an earlier configuration at "+as.Issuer)
		err := refreshWith(t, as, login.RefreshToken)
		require.Error(t, err, "the earlier login's refresh token no longer works")
		files, _ := os.ReadDir(e.cache)
		for _, f := range files {
			data, _ := os.ReadFile(filepath.Join(e.cache, f.Name()))
			assert.NotContains(t, string(data), login.RefreshToken, "%s still holds the refresh token", f.Name())
			assert.NotContains(t, string(data), login.AccessToken, "%s still holds the access token", f.Name())
		}
	})
	t.Run("usage", func(t *testing.T) {
		e.t = t
		assert.Equal(t, exitUsage, e.run("logout").code)
		assert.Equal(t, exitUsage, e.run("logout", "--all", "pc").code)
		assert.Equal(t, exitUsage, e.run("logout", "nope").code)
	})
}

// TestCLILogoutWhenRevocationFails: the tokens are deleted, the failure
// is reported, exit 1.
func TestCLILogoutWhenRevocationFails(t *testing.T) {
	e := newCLIEnv(t)
	dead := "http://" + closedPort(t)
	e.setConfig(opencodeConfig(map[string]any{"pc": provider("http://127.0.0.1:9/v1", map[string]any{
		"issuer": dead, "clientId": "c", "authFlow": "authorization_code", "scopes": []string{"offline_access"},
		"tokenEndpoint": dead + "/token", "authorizationEndpoint": dead + "/auth", "revocationEndpoint": dead + "/revoke",
	})}))
	e.seed("pc", store.State{Token: &store.Token{AccessToken: "at-canary", RefreshToken: "rt-canary", ExpiresAt: time.Now().Add(time.Hour)}})
	r := e.run("logout", "pc")
	assert.Equal(t, exitFailure, r.code)
	assert.Contains(t, r.stderr, "deleted the cached tokens")
	assert.Contains(t, r.stderr, "could not revoke the refresh token")
	assert.NotContains(t, r.stderr, "rt-canary")
	assert.Nil(t, e.loaded("pc").Token)
}
