//go:build integration

package oauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/syncbuf"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
)

// TestRequestParamsAgainstRealServer: the extra parameters, configured in
// an OpenCode config and parsed by the config package, arrive at the real
// server in the requests they belong to, and the logins still work; an
// override of a parameter of ours is a config problem and the provider is
// not used.
func TestRequestParamsAgainstRealServer(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true, DeviceInterval: time.Second, DeviceCodeTTL: time.Minute})
	gw := testenv.StartGateway(t, as.Issuer, as.Audience)
	parse := func(t *testing.T, block map[string]any) (config.Provider, []config.Problem) {
		t.Helper()
		block["issuer"] = as.Issuer
		raw, err := json.Marshal(map[string]any{"provider": map[string]any{"gw": map[string]any{
			"options": map[string]any{"baseURL": gw.URL + "/v1", "oauth2": block}}}})
		require.NoError(t, err)
		res, err := config.Parse(raw)
		require.NoError(t, err)
		if len(res.Providers) == 0 {
			return config.Provider{}, res.Problems
		}
		require.Empty(t, res.Problems)
		p := res.Providers[0]
		p.HTTPTimeout = 10 * time.Second
		return p, nil
	}
	extras := map[string]any{
		"audience": "https://api.example.test", "tokenParams": map[string]any{"x-test-token-param": "t1"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	t.Run("authorization code and refresh", func(t *testing.T) {
		p, _ := parse(t, map[string]any{"clientId": testenv.ClientCodePublic, "scopes": "openid offline_access api:read", "loginTimeoutSeconds": 30,
			"audience": extras["audience"], "tokenParams": extras["tokenParams"], "prompt": "consent", "loginHint": "alice",
			"acrValues": "urn:test:loa:1", "authorizationParams": map[string]any{"connector_id": "github", "ui_locales": "de"}})
		person := newPerson(t, as)
		c := userClient(t, p, &syncbuf.Buffer{}, oauth.Options{OpenBrowser: person.open})
		tok, err := c.Acquire(ctx)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, person.status(t))
		assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, tok.AccessToken))
		auth := lastRequest(t, as, "authorization").Params
		for k, v := range map[string]string{"audience": "https://api.example.test", "prompt": "consent", "login_hint": "alice",
			"acr_values": "urn:test:loa:1", "connector_id": "github", "ui_locales": "de", "client_id": testenv.ClientCodePublic} {
			assert.Equal(t, []string{v}, auth[k], k)
		}
		assert.Equal(t, []string{"t1"}, lastRequest(t, as, "token").Params["x-test-token-param"])

		_, err = c.Refresh(ctx, tok)
		require.NoError(t, err)
		r := lastRequest(t, as, "token").Params
		assert.Equal(t, []string{"refresh_token"}, r["grant_type"])
		assert.Equal(t, []string{"t1"}, r["x-test-token-param"])
	})

	t.Run("device code", func(t *testing.T) {
		p, _ := parse(t, map[string]any{"clientId": testenv.ClientDevicePublic, "authFlow": "device_code", "scopes": "openid offline_access", "loginTimeoutSeconds": 30,
			"audience": extras["audience"], "tokenParams": extras["tokenParams"], "authorizationParams": map[string]any{"connector_id": "github"}})
		answered := make(chan error, 1)
		c := userClient(t, p, &syncbuf.Buffer{}, oauth.Options{Prompt: func(pr oauth.Prompt) {
			go func() {
				actx, acancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer acancel()
				answered <- as.ApproveDevice(actx, pr.UserCode)
			}()
		}})
		tok, err := c.Acquire(ctx)
		require.NoError(t, err)
		require.NoError(t, <-answered)
		assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, tok.AccessToken))
		d := lastRequest(t, as, "device_authorization").Params
		assert.Equal(t, []string{"github"}, d["connector_id"])
		assert.Equal(t, []string{"https://api.example.test"}, d["audience"])
		assert.Equal(t, []string{"t1"}, lastRequest(t, as, "token").Params["x-test-token-param"])
	})

	t.Run("client_credentials", func(t *testing.T) {
		p, _ := parse(t, map[string]any{"clientId": testenv.ClientCCPost, "clientSecret": testenv.ClientCCPostSecret,
			"clientAuthMethod": "client_secret_post", "authFlow": "client_credentials",
			"audience": extras["audience"], "tokenParams": extras["tokenParams"]})
		tok, err := newClient(t, p, &syncbuf.Buffer{}, nil).Acquire(ctx)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, tok.AccessToken))
		r := lastRequest(t, as, "token").Params
		assert.Equal(t, []string{"https://api.example.test"}, r["audience"])
		assert.Equal(t, []string{"t1"}, r["x-test-token-param"])
	})

	t.Run("an override of a parameter of ours is a config problem", func(t *testing.T) {
		for _, block := range []map[string]any{
			{"clientId": testenv.ClientCodePublic, "scopes": "openid", "authorizationParams": map[string]any{"redirect_uri": "https://evil.example"}},
			{"clientId": testenv.ClientCodePublic, "scopes": "openid", "authorizationParams": map[string]any{"State": "x"}},
			{"clientId": testenv.ClientCodePublic, "scopes": "openid", "tokenParams": map[string]any{"code_verifier": "x"}},
		} {
			_, problems := parse(t, block)
			require.Len(t, problems, 1)
			assert.Equal(t, config.SeverityError, problems[0].Severity)
			assert.Contains(t, problems[0].Message(), `provider "gw": provider.gw.options.oauth2.`)
			assert.Contains(t, problems[0].Message(), "must be a parameter the plugin does not set itself")
		}
	})
}
