package config

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// canary is the client secret of the test configs: it must never appear in
// any problem.
const canary = "canary-7d1e0c-super-secret-value"

// del marks a key to delete from the base block in with.
type delKey struct{}

var del = delKey{}

// baseBlock is a valid oauth2 block for the authorization_code flow.
func baseBlock() map[string]any {
	return map[string]any{
		"issuer":   "https://idp.example.com/realms/r",
		"clientId": "cli",
		"scopes":   []any{"openid", "offline_access"},
	}
}

// with returns the base block with overrides applied (del removes a key).
func with(over map[string]any) map[string]any {
	b := baseBlock()
	for k, v := range over {
		if v == del {
			delete(b, k)
			continue
		}
		b[k] = v
	}
	return b
}

// shape1 wraps an oauth2 block as provider.acme.options.oauth2.
func shape1(t *testing.T, block map[string]any) []byte {
	t.Helper()
	return mustJSON(t, map[string]any{"provider": map[string]any{"acme": map[string]any{
		"options": map[string]any{"baseURL": "https://llm.example.com/v1", "oauth2": block},
	}}})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// parse runs Parse and checks the invariants every result must satisfy.
func parse(t *testing.T, raw []byte) Result {
	t.Helper()
	res, err := Parse(raw)
	require.NoError(t, err)
	checkInvariants(t, res)
	return res
}

func checkInvariants(t *testing.T, res Result) {
	t.Helper()
	for _, p := range res.Problems {
		text := strings.Join([]string{p.ProviderID, p.Field, p.Expected, p.Found, p.Hint, p.Message(), p.Error()}, "\n")
		assert.NotContains(t, text, canary, "a problem leaks the client secret")
		assert.NotEmpty(t, p.Field, "problem without a field: %+v", p)
		assert.NotContains(t, p.Message(), "\n", "message is not one line")
		assert.Contains(t, []Severity{SeverityError, SeverityWarning}, p.Severity)
		if p.Severity == SeverityError && p.ProviderID != "" {
			for _, prov := range res.Providers {
				assert.NotEqual(t, p.ProviderID, prov.ID, "provider %q has an error but was kept", prov.ID)
			}
		}
	}
}

// parseBlock parses a shape-1 config around with(over).
func parseBlock(t *testing.T, over map[string]any) Result {
	t.Helper()
	return parse(t, shape1(t, with(over)))
}

// only returns the single provider of res, failing if there is none.
func only(t *testing.T, res Result) Provider {
	t.Helper()
	require.Len(t, res.Providers, 1, "problems: %v", messages(res))
	return res.Providers[0]
}

func messages(res Result) []string {
	out := make([]string, len(res.Problems))
	for i, p := range res.Problems {
		out[i] = string(p.Severity) + ": " + p.Message()
	}
	return out
}

// problemAt returns the problem whose Field is field.
func problemAt(t *testing.T, res Result, field string) Problem {
	t.Helper()
	for _, p := range res.Problems {
		if p.Field == field {
			return p
		}
	}
	require.Failf(t, "no problem", "no problem at %s; got %v", field, messages(res))
	return Problem{}
}

const block = "provider.acme.options.oauth2"
