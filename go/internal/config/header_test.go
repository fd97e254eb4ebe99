package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokenHeaderAndScheme(t *testing.T) {
	tests := []struct {
		name      string
		over      map[string]any
		wantName  string
		wantValue string // for token type "bearer" and token "tok"
		problem   string // a problem at this field, the provider skipped
	}{
		{"default", nil, "Authorization", "Bearer tok", ""},
		{"Cloudflare AI Gateway", map[string]any{"tokenHeader": "cf-aig-authorization", "tokenScheme": "Bearer"}, "Cf-Aig-Authorization", "Bearer tok", ""},
		{"Portkey: the token alone", map[string]any{"tokenHeader": "x-portkey-api-key", "tokenScheme": ""}, "X-Portkey-Api-Key", "tok", ""},
		{"a scheme of its own", map[string]any{"tokenScheme": "Token"}, "Authorization", "Token tok", ""},
		{"Host", map[string]any{"tokenHeader": "host"}, "", "", "tokenHeader"},
		{"Cookie", map[string]any{"tokenHeader": "Cookie"}, "", "", "tokenHeader"},
		{"hop-by-hop", map[string]any{"tokenHeader": "Proxy-Authorization"}, "", "", "tokenHeader"},
		{"Content-*", map[string]any{"tokenHeader": "content-type"}, "", "", "tokenHeader"},
		{"not a token", map[string]any{"tokenHeader": "x api key"}, "", "", "tokenHeader"},
		{"a line break", map[string]any{"tokenHeader": "x-a\r\nx-b"}, "", "", "tokenHeader"},
		{"a scheme with a space", map[string]any{"tokenScheme": "Bearer x"}, "", "", "tokenScheme"},
		{"a scheme that is not a string", map[string]any{"tokenScheme": 3}, "", "", "tokenScheme"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := parseBlock(t, tc.over)
			if tc.problem != "" {
				assertProblemAt(t, res, block+"."+tc.problem)
				assert.Empty(t, res.Providers)
				for _, m := range messages(res) {
					assert.Contains(t, m, `provider "`)
				}
				return
			}
			p := only(t, res)
			assert.Equal(t, tc.wantName, p.HeaderName())
			require.Equal(t, tc.wantValue, p.HeaderValue("bearer", "tok"))
		})
	}
}
