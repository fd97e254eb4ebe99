//go:build integration

package cli

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testenv"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/testgateway"
)

// TestARevokedTokenIsRenewedWithoutAManualStep: the gateway refuses every
// token it accepted so far (401, error="invalid_token") while the cached one
// is still fresh; the next `opencode run` answers anyway, and the
// authorization server saw exactly one new token request (a machine grant,
// or a refresh of a user login).
func TestARevokedTokenIsRenewedWithoutAManualStep(t *testing.T) {
	as := testenv.StartAuthServer(t, testenv.AuthServerOptions{AutoLogin: true, DeviceInterval: time.Second})
	gw := testenv.StartGatewayWithOptions(t, testgateway.Options{Issuer: as.Issuer, Audience: as.Audience, AcceptUnknownModels: true})
	model := map[string]any{"m": map[string]any{"name": "Gateway model"}}
	cases := []struct {
		name, grant string
		provider    map[string]any
		login       func(t *testing.T, e *cliEnv)
	}{
		{"client_credentials", "client_credentials", ccProvider(as, gw.URL+"/v1"), nil},
		{"a user login, refreshed", "refresh_token", deviceProvider(as, gw.URL+"/v1", "device_code"), func(t *testing.T, e *cliEnv) {
			login := e.start("login", "gw")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			require.NoError(t, as.ApproveDevice(ctx, login.await(t, userCodeLine, 30*time.Second)))
			require.Equal(t, exitOK, login.wait(t, time.Minute), login.stderrText())
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newCLIEnv(t)
			tc.provider["models"] = model
			oc := newOpenCode(t, e, opencodeConfig(map[string]any{"gw": tc.provider}))
			if tc.login != nil {
				tc.login(t, e)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			code, out := runPiped(ctx, t, oc, "run", "--model", "gw/m", "say hello")
			require.Equal(t, 0, code, out)

			gw.RevokeAll()
			require.NoError(t, as.ResetStats())
			code, out = runPiped(ctx, t, oc, "run", "--model", "gw/m", "say hello")
			require.Equal(t, 0, code, "the run answers without any manual step: %s\nsidecar log:\n%s", out, oc.sidecarLog(e))
			assert.Contains(t, out, "Hello from the OAuth gateway")
			stats, err := as.Stats()
			require.NoError(t, err)
			assert.Equal(t, 1, stats["total"], "exactly one new token request: %v", stats)
			assert.Equal(t, 1, stats[tc.grant], "%v", stats)
			assert.Positive(t, gw.Stats().Revoked, "the gateway did refuse the old token")
		})
	}
}
