package oauth

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
)

// TestExtraParamsInTheAuthorizationCodeFlow: audience, prompt, login_hint,
// acr_values and authorizationParams reach the authorization request,
// tokenParams the token requests (the code exchange and a refresh), and
// none of them can replace a parameter of ours, even when the config
// check is bypassed.
func TestExtraParamsInTheAuthorizationCodeFlow(t *testing.T) {
	as := newFakeAS(t)
	p := as.provider()
	p.Audience, p.Prompt, p.LoginHint, p.ACRValues = "https://api.example.com", "login consent", "alice@example.com", "urn:acr:mfa"
	p.AuthorizationParams = map[string]string{"connector_id": "github", "state": "forged", "redirect_uri": "https://evil.example.com"}
	p.TokenParams = map[string]string{"x-tenant": "t1", "grant_type": "password", "code": "forged"}
	u := newFakeUser(t, as, step{query: good})
	env := newCodeClient(t, p, u.open, nil)
	tok, err := env.client.Acquire(testCtx(t))
	u.wait(t)
	require.NoError(t, err, "the login works: our state, redirect_uri, grant_type and code were kept")

	auth := as.authQuery
	for k, v := range map[string]string{"audience": "https://api.example.com", "prompt": "login consent",
		"login_hint": "alice@example.com", "acr_values": "urn:acr:mfa", "connector_id": "github"} {
		assert.Equal(t, []string{v}, auth[k], k)
	}
	assert.NotEqual(t, "forged", auth.Get("state"))
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/oauth2/callback$`, auth.Get("redirect_uri"))
	form := as.tokenForms[0]
	assert.Equal(t, "t1", form.Get("x-tenant"))
	assert.Equal(t, "authorization_code", form.Get("grant_type"))
	assert.Equal(t, canaryCode, form.Get("code"))
	assert.Empty(t, form.Get("audience"), "audience goes into the authorization request only")

	as.set(func(f *fakeAS) { f.tokenError = &tokenErr{status: 400, body: `{"error":"invalid_grant"}`} })
	_, err = env.client.Refresh(testCtx(t), tok)
	require.Error(t, err)
	refresh := as.tokenForms[1]
	assert.Equal(t, "refresh_token", refresh.Get("grant_type"))
	assert.Equal(t, "t1", refresh.Get("x-tenant"), "tokenParams on the refresh too")
}

// TestAuthorizationURLParamOrder: the endpoint's own query is kept, the
// configured parameters replace it, ours replace both.
func TestAuthorizationURLParamOrder(t *testing.T) {
	c, err := New(config.Provider{ID: "acme", ClientID: "cli", Scopes: []string{"openid"}, Prompt: "login",
		AuthorizationParams: map[string]string{"connector_id": "ldap"}}, Options{Log: discardLogger()})
	require.NoError(t, err)
	raw := c.authorizationURL("https://idp.example.com/auth?prompt=none&connector_id=github&kc_idp_hint=x&client_id=other",
		"http://127.0.0.1:1/oauth2/callback", c.newAuthRequest())
	u, err := url.Parse(raw)
	require.NoError(t, err)
	q := u.Query()
	assert.Equal(t, []string{"login"}, q["prompt"])
	assert.Equal(t, []string{"ldap"}, q["connector_id"])
	assert.Equal(t, []string{"x"}, q["kc_idp_hint"])
	assert.Equal(t, []string{"cli"}, q["client_id"])
}

// TestExtraParamsInTheDeviceAndMachineFlows: the device authorization
// request carries audience and authorizationParams, its polls tokenParams;
// a machine grant carries audience and tokenParams.
func TestExtraParamsInTheDeviceAndMachineFlows(t *testing.T) {
	t.Run("device_code", func(t *testing.T) {
		p := deviceProvider()
		p.Audience = "https://api.example.com"
		p.AuthorizationParams = map[string]string{"connector_id": "github", "scope": "forged"}
		p.TokenParams = map[string]string{"x-tenant": "t1", "device_code": "forged"}
		env := newDeviceEnv(t, p, deviceBody, granted())
		_, err := env.client.Acquire(testCtx(t))
		require.NoError(t, err)
		d := env.script.deviceForm
		assert.Equal(t, "https://api.example.com", d.Get("audience"))
		assert.Equal(t, "github", d.Get("connector_id"))
		assert.Equal(t, "offline_access api:read", d.Get("scope"), "ours win")
		poll := env.script.tokenForms[0]
		assert.Equal(t, "t1", poll.Get("x-tenant"))
		assert.Equal(t, canaryDevice, poll.Get("device_code"), "ours win")
		assert.Empty(t, poll.Get("connector_id"))
	})
	t.Run("client_credentials", func(t *testing.T) {
		s := newAssertionServer(t)
		p := s.provider()
		p.ClientAuthMethod = config.AuthMethodPost
		p.Audience = "https://api.example.com"
		p.TokenParams = map[string]string{"x-tenant": "t1"}
		c, err := New(p, Options{Log: discardLogger()})
		require.NoError(t, err)
		_, err = c.Acquire(testCtx(t))
		require.NoError(t, err)
		form := s.forms["/token"][0]
		assert.Equal(t, "https://api.example.com", form.Get("audience"))
		assert.Equal(t, "t1", form.Get("x-tenant"))
		assert.Equal(t, "client_credentials", form.Get("grant_type"))
	})
}
