package service

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/models"
	"github.com/vymalo/opencode-oauth2/go/internal/oauth"
	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

func TestBuildEntry(t *testing.T) {
	p := config.Provider{ID: "gw", Name: "Gateway", BaseURL: "https://gw.example/v1"}
	discovered := []models.Model{{ID: "glm-5", Name: "GLM 5"}, {ID: "mine", Name: "Mine"}}
	tests := []struct {
		name  string
		p     func(config.Provider) config.Provider
		user  map[string]any
		auth  string
		check func(t *testing.T, e map[string]any)
	}{
		{"new provider from pluginConfig", nil, nil, "", func(t *testing.T, e map[string]any) {
			assert.Equal(t, NPMCompatible, e["npm"])
			assert.Equal(t, "Gateway", e["name"])
			assert.Equal(t, map[string]any{"baseURL": "https://gw.example/v1"}, e["options"])
			assert.Equal(t, "GLM 5", e["models"].(map[string]any)["glm-5"].(map[string]any)["name"])
		}},
		{"user fields win", nil, map[string]any{
			"npm": "@ai-sdk/custom", "name": "Mine", "options": map[string]any{"timeout": 5.0},
			"models": map[string]any{"mine": map[string]any{"name": "My own name"}},
		}, "", func(t *testing.T, e map[string]any) {
			assert.Equal(t, "@ai-sdk/custom", e["npm"])
			assert.Equal(t, "Mine", e["name"])
			assert.Equal(t, 5.0, e["options"].(map[string]any)["timeout"])
			assert.Equal(t, "My own name", e["models"].(map[string]any)["mine"].(map[string]any)["name"])
		}},
		{"bearer propagated", nil, nil, "Bearer abc", func(t *testing.T, e map[string]any) {
			assert.Equal(t, map[string]any{"Authorization": "Bearer abc"}, e["options"].(map[string]any)["headers"])
		}},
		{"user Authorization header is never overridden", nil, map[string]any{
			"options": map[string]any{"headers": map[string]any{"authorization": "Token mine"}},
		}, "Bearer abc", func(t *testing.T, e map[string]any) {
			assert.Equal(t, map[string]any{"authorization": "Token mine"}, e["options"].(map[string]any)["headers"])
		}},
		{"responses API gets the native provider and a placeholder key", func(p config.Provider) config.Provider {
			p.ResponseAPI = true
			return p
		}, nil, "", func(t *testing.T, e map[string]any) {
			assert.Equal(t, NPMResponses, e["npm"])
			assert.Equal(t, PlaceholderAPIKey, e["options"].(map[string]any)["apiKey"])
		}},
		{"placeholder removed when responses API is off", nil, map[string]any{
			"options": map[string]any{"apiKey": PlaceholderAPIKey},
		}, "", func(t *testing.T, e map[string]any) {
			assert.NotContains(t, e["options"], "apiKey")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pp := p
			if tc.p != nil {
				pp = tc.p(p)
			}
			tc.check(t, buildEntry(pp, tc.user, discovered, tc.auth))
		})
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", tokens.ErrLoginRequired), protocol.ReasonLoginRequired},
		{fmt.Errorf("x: %w", tokens.ErrInvalidGrant), protocol.ReasonLoginRequired},
		{fmt.Errorf("x: %w", tokens.ErrInvalidClient), protocol.ReasonInvalidClient},
		{fmt.Errorf("x: %w", tokens.ErrTransient), protocol.ReasonTransient},
		{errors.New("other"), protocol.ReasonConfig},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, reason(tc.err), tc.err.Error())
	}
}

// TestLoginWait: the shim's wait (loginTimeoutMs) outlasts the login's own
// timeout by a tenth, at least 5 s, and is never under a minute.
func TestLoginWait(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    config.Provider
		want time.Duration
	}{
		{"default", config.Provider{Flow: config.AuthorizationCode}, 330 * time.Second},
		{"two minutes", config.Provider{Flow: config.AuthorizationCode, LoginTimeout: 2 * time.Minute}, 132 * time.Second},
		{"short: a minute", config.Provider{Flow: config.AuthorizationCode, LoginTimeout: 10 * time.Second}, time.Minute},
		{"device code: 30 min and a tenth", config.Provider{Flow: config.DeviceCode}, 33 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, loginWait(tc.p))
			assert.Greater(t, loginWait(tc.p), loginTimeout(tc.p), "the sidecar's timeout speaks first")
		})
	}
}

// TestAnnounce: the line said before each login at start names the provider,
// which of several it is, how it logs in, and the key that skips it.
func TestAnnounce(t *testing.T) {
	acme := protocol.PendingLogin{ProviderID: "acme", Name: "Acme", Flow: string(config.AuthorizationCode)}
	dev := protocol.PendingLogin{ProviderID: "dev", Name: "Dev", Flow: string(config.DeviceCode)}
	for _, tc := range []struct {
		name string
		l    protocol.PendingLogin
		i, n int
		want string
	}{
		{"the only one", acme, 0, 1, "logging in to Acme (acme) with your browser; Ctrl-C to skip."},
		{"first of two", acme, 0, 2, "logging in to Acme (acme) (1 of 2) with your browser; Ctrl-C to skip."},
		{"device code, second of two", dev, 1, 2, "logging in to Dev (dev) (2 of 2) with a code to enter in a browser; Ctrl-C to skip."},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, announce(tc.l, tc.i, tc.n)) })
	}
}

// TestInteractive: OPENCODE_OAUTH2_INTERACTIVE decides, else CI means no,
// else the shim's word (a terminal, no server).
func TestInteractive(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		terminal bool
		want     bool
	}{
		{"a terminal", nil, true, true},
		{"no terminal", nil, false, false},
		{"forced on without a terminal", map[string]string{"OPENCODE_OAUTH2_INTERACTIVE": " Yes "}, false, true},
		{"forced on in CI", map[string]string{"OPENCODE_OAUTH2_INTERACTIVE": "1", "CI": "true"}, false, true},
		{"forced off at a terminal", map[string]string{"OPENCODE_OAUTH2_INTERACTIVE": "0"}, true, false},
		{"forced off: false", map[string]string{"OPENCODE_OAUTH2_INTERACTIVE": "FALSE"}, true, false},
		{"CI at a terminal", map[string]string{"CI": "true"}, true, false},
		{"CI=1", map[string]string{"CI": "1"}, true, false},
		{"CI=0 is not CI", map[string]string{"CI": "0"}, true, true},
		{"CI=false is not CI", map[string]string{"CI": "false"}, true, true},
		{"an unknown override is ignored", map[string]string{"OPENCODE_OAUTH2_INTERACTIVE": "maybe"}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, interactive(tc.terminal, func(k string) string { return tc.env[k] }))
		})
	}
}

// TestToast: a prompt as a toast words it (no key promised) and how long it
// stays: until the login stops waiting, within 10 s to 5 min, else 2 min.
func TestToast(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		p     oauth.Prompt
		words string
		ms    int64
	}{
		{"device code", oauth.Prompt{Message: "To log in to Acme, open this URL and enter the code below:", URL: "https://idp.example/device", UserCode: "ABCD-EFGH", ExpiresAt: now.Add(time.Minute)},
			"To log in to Acme, open this URL and enter the code below:\nhttps://idp.example/device\ncode: ABCD-EFGH", 60_000},
		{"browser, no deadline", oauth.Prompt{Message: "To log in to Acme, open this URL:", URL: "http://127.0.0.1:1/start/x"},
			"To log in to Acme, open this URL:\nhttp://127.0.0.1:1/start/x", 120_000},
		{"a deadline far off: 5 min", oauth.Prompt{Message: "m", ExpiresAt: now.Add(time.Hour)}, "m", 300_000},
		{"a deadline past: 10 s", oauth.Prompt{Message: "m", URL: "u", ExpiresAt: now.Add(-time.Minute)}, "m\nu", 10_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			words, ms := toast(tc.p, now)
			assert.Equal(t, tc.words, words)
			assert.NotContains(t, words, "Ctrl-C", "a toast promises no key")
			assert.Equal(t, tc.ms, ms)
		})
	}
}

// TestFitFrame: while the answer is over the limit, the provider whose
// models take the most room (among equals, the first by id) keeps only the
// models its user declared, and a warning names it; the others stay whole.
func TestFitFrame(t *testing.T) {
	list := func(n int) map[string]any {
		return map[string]any{"m": map[string]any{"name": strings.Repeat("x", n)}}
	}
	out := protocol.ConfigApplyResult{Providers: map[string]map[string]any{
		"big": {"models": list(3000)}, "b-tie": {"models": list(2000)}, "a-tie": {"models": list(2000)}, "small": {"models": list(10)},
	}}
	user := map[string]map[string]any{"big": {"models": map[string]any{"mine": map[string]any{}}}}
	fitFrame(logging.Discard(), &out, user, 3000)

	assert.Equal(t, map[string]any{"mine": map[string]any{}}, out.Providers["big"]["models"], "the largest keeps its declared models")
	assert.Equal(t, map[string]any{}, out.Providers["a-tie"]["models"], "then the first of two equals")
	assert.Equal(t, list(2000), out.Providers["b-tie"]["models"], "within the limit now: the rest stay whole")
	assert.Equal(t, list(10), out.Providers["small"]["models"])
	if assert.Len(t, out.Problems, 2) {
		assert.Equal(t, "big", out.Problems[0].ProviderID)
		assert.Equal(t, "provider.a-tie.models", out.Problems[1].Field)
		assert.Contains(t, out.Problems[0].Message, "lower maxModels")
	}
}
