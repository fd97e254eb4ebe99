package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestURLRules(t *testing.T) {
	cases := []struct {
		url      string
		insecure bool
		ok       bool
	}{
		{"https://idp.example.com", false, true},
		{"https://idp.example.com:8443/realms/a", false, true},
		{"HTTPS://IDP.EXAMPLE.COM", false, true},
		{"http://localhost:8080", false, true},
		{"http://LOCALHOST", false, true},
		{"http://127.0.0.1", false, true},
		{"http://127.200.3.4:9000/x", false, true},
		{"http://[::1]:8080", false, true},
		{"http://[::ffff:127.0.0.1]", false, true},
		{"http://localhost.evil.example.com", false, false},
		{"http://127.0.0.1.nip.io", false, false},
		{"http://10.0.0.1", false, false},
		{"http://[::2]", false, false},
		{"http://idp.internal", false, false},
		{"http://idp.internal", true, true},
		{"https://user@idp.example.com", true, false},
		{"https://user:pw@idp.example.com", false, false},
		{"https://idp.example.com/#x", false, false},
		{"ws://idp.example.com", false, false},
		{"mailto:a@example.com", false, false},
		{"https:idp.example.com", false, false},
		{"//idp.example.com", false, false},
		{"https://", false, false},
		{"https://idp.example.com:0", false, false},
		{"https://idp.example.com:x", false, false},
		{"https://idp.example.com/a\tb", false, false},
	}
	for _, tc := range cases {
		expected, _ := urlProblem("tokenEndpoint", tc.url, tc.insecure, "x")
		assert.Equal(t, tc.ok, expected == "", "%s (insecure=%v): %s", tc.url, tc.insecure, expected)
	}
}

func TestIssuerMayNotHaveAQueryButEndpointsMay(t *testing.T) {
	e, _ := urlProblem("issuer", "https://idp.example.com/a?b=c", false, "")
	assert.NotEmpty(t, e)
	e, _ = urlProblem("tokenEndpoint", "https://idp.example.com/a?b=c", false, "")
	assert.Empty(t, e)
}

func TestRedactUserinfo(t *testing.T) {
	cases := map[string]string{
		"https://u:p@h/x":           "https://***@h/x",
		"https://p@ss:w@rd@h/x?a@b": "https://***@h/x?a@b",
		"https://h/x?u=a@b":         "https://h/x?u=a@b",
		"no scheme u:p@h":           "***@h",
		"https:/u:p@h/x":            "https:/***@h/x",
		"https:u:p@h":               "***@h",
		"https://h":                 "https://h",
	}
	for in, want := range cases {
		assert.Equal(t, want, redactUserinfo(in), in)
	}
}

func TestBaseURLRules(t *testing.T) {
	provider := func(baseURL string, insecure bool) []byte {
		b := with(nil)
		if insecure {
			b["allowInsecureHttp"] = true
		}
		return mustJSON(t, map[string]any{"provider": map[string]any{"acme": map[string]any{
			"options": map[string]any{"baseURL": baseURL, "oauth2": b},
		}}})
	}
	res := parse(t, provider("http://llm.internal/v1", false))
	assert.Empty(t, res.Providers)
	assert.Equal(t, `provider "acme": provider.acme.options.baseURL must be an https URL, found "http://llm.internal/v1"; `+
		`plain http is only accepted for loopback hosts (localhost, 127.0.0.0/8, ::1); to allow it anyway set "allowInsecureHttp": true in provider.acme.options.oauth2`,
		res.Problems[0].Message())

	assert.Equal(t, "http://llm.internal/v1", only(t, parse(t, provider("http://llm.internal/v1", true))).BaseURL)
	assert.Equal(t, "http://localhost:4000/v1", only(t, parse(t, provider("http://localhost:4000/v1", false))).BaseURL)

	res = parse(t, provider("https://key:"+canary+"@llm.example.com/v1", false))
	assert.Equal(t, `provider "acme": provider.acme.options.baseURL must be a URL without user:password@, found "https://***@llm.example.com/v1"; credentials do not belong in URLs`,
		res.Problems[0].Message())

	res = parse(t, []byte(`{"provider":{"acme":{"options":{"baseURL":5,"oauth2":{"issuer":"https://idp.example.com","clientId":"c","scopes":"x"}}}}}`))
	assert.Equal(t, `provider "acme": provider.acme.options.baseURL must be an absolute https URL of the OpenAI-compatible API, like "https://llm.example.com/v1", found 5`,
		res.Problems[0].Message())
}

// TestSecretNeverInProblems puts the canary secret wherever a confused user
// might, next to every kind of mistake, and checks that no problem shows it.
func TestSecretNeverInProblems(t *testing.T) {
	configs := []string{
		`{"provider":{"a":{"options":{"baseURL":"https://x","oauth2":{"clientSecret":"CANARY","issuer":5}}}}}`,
		`{"provider":{"a":{"options":{"baseURL":"https://x","oauth2":{"clientSecret":" CANARY ","clientId":"c","scopes":"x","issuer":"https://i"}}}}}`,
		`{"provider":{"a":{"options":{"baseURL":"https://x","oauth2":{"clientSecret":"CANARY","clientAuthMethod":"none","clientId":"c","scopes":"x","issuer":"https://i"}}}}}`,
		`{"provider":{"a":{"options":{"baseURL":"https://x","oauth2":[{"clientSecret":"CANARY"}]}}}}`,
		`{"provider":{"a":{"options":{"baseURL":"https://x","oauth2":{"clientSecret":"CANARY"},"oauth2ModelSync":{"clientSecret":"CANARY"}}}}}`,
		`{"provider":{"a":{"options":{"baseURL":"https://x","oauth2ModelSync":{"client_secret":"CANARY","nameOverrides":[{"clientSecret":"CANARY"}]}}}}}`,
		`{"provider":{"a":{"options":{"baseURL":"https://x","oauth2":{"subjectTokenSource":{"type":"x","clientSecret":"CANARY"},"resource":{"secret":"CANARY"}}}}}}`,
		`{"provider":{"a":{"options":{"baseURL":"https://user:CANARY@x","oauth2":{"issuer":"https://u:CANARY@i","tokenEndpoint":"http://u:CANARY@i"}}}}}`,
		`{"provider":{"a":{"options":{"baseURL":"https://x","oauth2":{"issuer":"https://u:CAN ARY@i"}}}}}`,
		`{"provider":{"a":["clientSecret", {"clientSecret":"CANARY"}]}}`,
		`{"pluginConfig":{"oauth2ModelSync":[{"clientSecret":"CANARY"}]}}`,
		`{"provider":{"clientSecret":"CANARY","db_password":["CANARY"]}}`,
		`{"pluginConfig":{"oauth2ModelSync":{"servers":[[{"clientSecret":"CANARY"}],{"id":"x","clientSecret":"CANARY"},{"clientSecret":"CANARY"}],"cacheNamespace":{"secret":"CANARY"}}}}`,
		`{"pluginConfig":{"oauth2ModelSync":{"servers":{"clientSecret":"CANARY"}}}}`,
	}
	for _, c := range configs {
		c = strings.ReplaceAll(c, "CAN ARY", canary[:10]+" "+canary[10:])
		res, err := Parse([]byte(strings.ReplaceAll(c, "CANARY", canary)))
		require.NoError(t, err)
		require.NotEmpty(t, res.Problems, c)
		checkInvariants(t, res)
		for _, p := range res.Problems {
			assert.NotContains(t, p.Message(), canary[:10], c)
		}
	}
}
