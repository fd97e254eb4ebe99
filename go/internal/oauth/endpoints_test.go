package oauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
)

// TestLoginNeedsItsEndpoint: a login whose endpoint the server metadata does
// not name fails before any browser or device request, naming the metadata
// field and the option that would supply it.
func TestLoginNeedsItsEndpoint(t *testing.T) {
	var issuer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			t.Errorf("unexpected request to %s", r.URL.Path)
			http.NotFound(w, r)
			return
		}
		writeJSON(w, 200, map[string]any{"issuer": issuer, "token_endpoint": issuer + "/token"})
	}))
	defer srv.Close()
	issuer = srv.URL
	for _, tc := range []struct {
		flow config.Flow
		want string
	}{
		{config.AuthorizationCode, `provider "acme": the server metadata has no authorization_endpoint; set authorizationEndpoint in the oauth2 block`},
		{config.DeviceCode, `provider "acme": the server metadata has no device_authorization_endpoint; set deviceAuthorizationEndpoint in the oauth2 block`},
	} {
		t.Run(string(tc.flow), func(t *testing.T) {
			p := config.Provider{ID: "acme", Issuer: issuer, ClientID: testClient, Flow: tc.flow, AllowInsecureHTTP: true, LoginTimeout: 5 * time.Second}
			c, err := New(p, Options{Log: discardLogger(), OpenBrowser: func(_ context.Context, _ string) error {
				t.Error("a browser was opened")
				return nil
			}})
			require.NoError(t, err)
			_, err = c.Acquire(testCtx(t))
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
		})
	}
}
