//go:build integration

package cli

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
)

// TestCLILoginAndLogoutWithHydra: `login` through the loopback redirect at Ory
// Hydra (the login app's form filled by testenv's browser, which opens the start URL
// exactly as the CLI prints it), `token` gives a token the gateway accepts, and
// `logout` revokes the refresh token at Hydra: introspection says it is no longer
// active and the refresh grant refuses it.
func TestCLILoginAndLogoutWithHydra(t *testing.T) {
	h := testenv.StartHydra(t, testenv.HydraOptions{})
	h.CreateClient(t, h.PublicCodeClient("code-public"))
	gw := testenv.StartGateway(t, h.Issuer, h.Audience)
	e := newCLIEnv(t)
	e.setConfig(opencodeConfig(map[string]any{"hy": provider(gw.URL+"/v1", map[string]any{
		"issuer": h.Issuer, "clientId": "code-public", "authFlow": "authorization_code",
		"scopes": []string{"openid", "offline_access", "api:read"},
	})}))

	login := e.start("login", "hy") // OPENCODE_OAUTH2_BROWSER=none: the URL is printed
	start := login.await(t, startURLLine, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	status, err := h.BrowseAuthorization(ctx, start)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)
	require.Equal(t, exitOK, login.wait(t, 30*time.Second))
	assert.Contains(t, login.stderrText(), "Logged in to hy as "+testenv.DemoUser+" with authorization_code")
	assert.Equal(t, 1, h.App.Logins())

	r := e.run("token", "hy")
	require.Equal(t, exitOK, r.code)
	assert.Equal(t, http.StatusOK, gatewayStatus(t, gw, "Bearer "+strings.TrimSpace(r.stdout)))

	cached := e.loaded("hy").Token
	require.NotNil(t, cached)
	rt := cached.RefreshToken
	require.NotEmpty(t, rt)
	in, err := h.Introspect(ctx, rt)
	require.NoError(t, err)
	require.True(t, in.Active, "the refresh token is active before logout")

	r = e.run("logout", "hy")
	require.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stderr, "deleted the cached tokens")
	assert.Contains(t, r.stderr, "revoked the refresh token at "+h.Issuer)
	assert.NotContains(t, r.stderr, rt)
	assert.Nil(t, e.loaded("hy").Token, "no token left in the cache")

	in, err = h.Introspect(ctx, rt)
	require.NoError(t, err)
	assert.False(t, in.Active, "revoked at Hydra")
	cfg := oauth2.Config{ClientID: "code-public",
		Endpoint: oauth2.Endpoint{TokenURL: h.TokenURL(), AuthStyle: oauth2.AuthStyleInParams}}
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	require.Error(t, err, "the revoked refresh token no longer works")
	assert.Contains(t, err.Error(), "invalid_grant")
}
