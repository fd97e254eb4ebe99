//go:build integration

package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type deviceStart struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

func startDevice(t *testing.T, s *AuthServer) deviceStart {
	t.Helper()
	status, body := postForm(t, s.DeviceAuthorizationURL(), clientAuth{id: ClientDevicePublic}, url.Values{
		"scope": {"openid offline_access api:read"},
	})
	require.Equal(t, http.StatusOK, status, "%v", body)
	b, err := json.Marshal(body)
	require.NoError(t, err)
	var d deviceStart
	require.NoError(t, json.Unmarshal(b, &d))
	require.NotEmpty(t, d.DeviceCode)
	require.NotEmpty(t, d.UserCode)
	return d
}

func pollDevice(t *testing.T, s *AuthServer, deviceCode string) (int, map[string]any) {
	t.Helper()
	return postForm(t, s.TokenURL(), clientAuth{id: ClientDevicePublic}, url.Values{
		"grant_type":  {GrantDeviceCode},
		"device_code": {deviceCode},
	})
}

func TestDeviceFlow(t *testing.T) {
	for _, autoLogin := range []bool{true, false} {
		t.Run(fmt.Sprintf("approve, auto login %v", autoLogin), func(t *testing.T) {
			s := StartAuthServer(t, AuthServerOptions{AutoLogin: autoLogin, DeviceInterval: time.Second, DeviceCodeTTL: time.Minute})
			gw := StartGateway(t, s.Issuer, s.Audience)
			d := startDevice(t, s)
			assert.Equal(t, 1, d.Interval)
			assert.Equal(t, 60, d.ExpiresIn)
			assert.Equal(t, s.DeviceVerificationURL(), d.VerificationURI)

			status, body := pollDevice(t, s, d.DeviceCode)
			require.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "authorization_pending", body["error"])

			require.NoError(t, s.ApproveDevice(testCtx(t), d.UserCode))
			time.Sleep(time.Duration(d.Interval) * time.Second)

			status, body = pollDevice(t, s, d.DeviceCode)
			require.Equal(t, http.StatusOK, status, "%v", body)
			at, rt := str(t, body, "access_token"), str(t, body, "refresh_token")
			assert.Equal(t, DemoUser, unverifiedClaims(t, at)["sub"])
			code, text := chat(t, gw, at)
			require.Equal(t, http.StatusOK, code, text)
			assert.Equal(t, "Hello from the OAuth gateway, alice!", text)

			status, body = postForm(t, s.TokenURL(), clientAuth{id: ClientDevicePublic}, url.Values{
				"grant_type": {"refresh_token"}, "refresh_token": {rt},
			})
			require.Equal(t, http.StatusOK, status, "%v", body)
			code, text = chat(t, gw, str(t, body, "access_token"))
			require.Equal(t, http.StatusOK, code, text)

			// The device code is single use, and the user code cannot be approved twice.
			time.Sleep(time.Duration(d.Interval) * time.Second)
			status, body = pollDevice(t, s, d.DeviceCode)
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "invalid_grant", body["error"])
			assert.Error(t, s.ApproveDevice(testCtx(t), d.UserCode))

			stats, err := s.Stats()
			require.NoError(t, err)
			assert.Equal(t, 1, stats["endpoint:device_authorization"])
			assert.Equal(t, 3, stats[GrantDeviceCode])
			assert.Zero(t, stats["error:slow_down"])
		})
	}

	t.Run("slow_down, deny, unknown code", func(t *testing.T) {
		// 2 s leaves room for a loaded machine between two "immediate" polls.
		s := StartAuthServer(t, AuthServerOptions{AutoLogin: true, DeviceInterval: 2 * time.Second})

		d := startDevice(t, s)
		status, body := pollDevice(t, s, d.DeviceCode)
		require.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "authorization_pending", body["error"])
		status, body = pollDevice(t, s, d.DeviceCode)
		require.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "slow_down", body["error"], "polling faster than the interval")
		// The interval grew by 5 s: waiting the original interval is still too fast.
		time.Sleep(2100 * time.Millisecond)
		_, body = pollDevice(t, s, d.DeviceCode)
		assert.Equal(t, "slow_down", body["error"])
		stats, err := s.Stats()
		require.NoError(t, err)
		assert.Equal(t, 2, stats["error:slow_down"])

		// An approved code is delivered even to a client that polls too fast: tokens
		// are never thrown away for a slow_down.
		require.NoError(t, s.ApproveDevice(testCtx(t), d.UserCode))
		status, body = pollDevice(t, s, d.DeviceCode)
		require.Equal(t, http.StatusOK, status, "%v", body)

		denied := startDevice(t, s)
		require.NoError(t, s.DenyDevice(testCtx(t), denied.UserCode))
		status, body = pollDevice(t, s, denied.DeviceCode)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "access_denied", body["error"])

		err = s.ApproveDevice(testCtx(t), "BCDF-GHJK")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not accepted")
	})

	t.Run("no scope requested gets the default scopes", func(t *testing.T) {
		s := StartAuthServer(t, AuthServerOptions{DeviceInterval: time.Second})
		status, body := postForm(t, s.DeviceAuthorizationURL(), clientAuth{id: ClientDevicePublic}, url.Values{})
		require.Equal(t, http.StatusOK, status, "%v", body)
		require.NoError(t, s.ApproveDevice(testCtx(t), str(t, body, "user_code")))
		status, body = pollDevice(t, s, str(t, body, "device_code"))
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Equal(t, "api:read api:write", unverifiedClaims(t, str(t, body, "access_token"))["scope"])
	})

	t.Run("expired device code", func(t *testing.T) {
		s := StartAuthServer(t, AuthServerOptions{AutoLogin: true, DeviceInterval: time.Second, DeviceCodeTTL: time.Second})
		d := startDevice(t, s)
		time.Sleep(2 * time.Second)
		status, body := pollDevice(t, s, d.DeviceCode)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "expired_token", body["error"])
	})
}
