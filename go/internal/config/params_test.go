package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClientAssertionOptions(t *testing.T) {
	cc := map[string]any{"authFlow": "client_credentials", "scopes": del}
	merge := func(a, b map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			out[k] = v
		}
		return out
	}
	t.Run("a key file selects private_key_jwt; no secret needed", func(t *testing.T) {
		res := parseBlock(t, merge(cc, map[string]any{"clientAssertionKeyFile": " /etc/llm/key.pem ",
			"clientAssertionKeyId": "k1", "clientAssertionAlg": "PS256"}))
		assert.Empty(t, res.Problems)
		p := only(t, res)
		assert.Equal(t, AuthMethodPrivateKeyJWT, p.ClientAuthMethod)
		assert.Equal(t, "/etc/llm/key.pem", p.ClientAssertionKeyFile)
		assert.Equal(t, "k1", p.ClientAssertionKeyID)
		assert.Equal(t, "PS256", p.ClientAssertionAlg)
		assert.Nil(t, p.ClientAssertionSource)
	})
	t.Run("a source selects private_key_jwt (federated credential)", func(t *testing.T) {
		res := parseBlock(t, merge(cc, map[string]any{"clientAuthMethod": "private_key_jwt",
			"clientAssertionSource": map[string]any{"type": "github_actions", "audience": "api://AzureADTokenExchange"}}))
		assert.Empty(t, res.Problems)
		p := only(t, res)
		assert.Equal(t, AuthMethodPrivateKeyJWT, p.ClientAuthMethod)
		assert.Equal(t, &SubjectTokenSource{Type: SourceGitHubActions, Audience: "api://AzureADTokenExchange"}, p.ClientAssertionSource)
		assert.Empty(t, p.ClientAssertionKeyFile)
	})
	t.Run("private_key_jwt with an interactive flow", func(t *testing.T) {
		res := parseBlock(t, map[string]any{"clientAssertionKeyFile": "/k.json"})
		assert.Empty(t, res.Problems)
		assert.Equal(t, AuthMethodPrivateKeyJWT, only(t, res).ClientAuthMethod)
	})
	t.Run("without them nothing changes", func(t *testing.T) {
		p := only(t, parseBlock(t, nil))
		assert.Equal(t, AuthMethodAuto, p.ClientAuthMethod)
		assert.Empty(t, p.ClientAssertionKeyFile)
		assert.Nil(t, p.ClientAssertionSource)
	})
}

func TestRequestParams(t *testing.T) {
	params := map[string]any{
		"audience": "https://api.example.com", "prompt": "select_account consent", "loginHint": "alice@example.com",
		"acrValues": "urn:acr:mfa", "authorizationParams": map[string]any{"connector_id": "github", "empty": ""},
		"tokenParams": map[string]any{"x-tenant": "t1"},
	}
	t.Run("authorization_code takes them all", func(t *testing.T) {
		res := parseBlock(t, params)
		assert.Empty(t, res.Problems)
		p := only(t, res)
		assert.Equal(t, "https://api.example.com", p.Audience)
		assert.Equal(t, "select_account consent", p.Prompt)
		assert.Equal(t, "alice@example.com", p.LoginHint)
		assert.Equal(t, "urn:acr:mfa", p.ACRValues)
		assert.Equal(t, map[string]string{"connector_id": "github", "empty": ""}, p.AuthorizationParams)
		assert.Equal(t, map[string]string{"x-tenant": "t1"}, p.TokenParams)
	})
	t.Run("device_code ignores what only the browser login sends", func(t *testing.T) {
		over := map[string]any{"authFlow": "device_code"}
		for k, v := range params {
			over[k] = v
		}
		res := parseBlock(t, over)
		p := only(t, res)
		var ignored []string
		for _, pr := range res.Problems {
			assert.Equal(t, SeverityWarning, pr.Severity)
			ignored = append(ignored, pr.Field)
		}
		assert.ElementsMatch(t, []string{block + ".prompt", block + ".loginHint", block + ".acrValues"}, ignored)
		assert.Empty(t, p.Prompt)
		assert.Equal(t, map[string]string{"connector_id": "github", "empty": ""}, p.AuthorizationParams)
		assert.Equal(t, "https://api.example.com", p.Audience)
	})
	t.Run("audience is the token_exchange audience too", func(t *testing.T) {
		res := parseBlock(t, map[string]any{"authFlow": "token_exchange", "subjectTokenSource": map[string]any{"type": "env", "var": "X"},
			"audience": "gw"})
		assert.Empty(t, res.Problems)
		assert.Equal(t, "gw", only(t, res).Audience)
	})
	t.Run("every reserved name is refused, in any case", func(t *testing.T) {
		for name := range reservedParams {
			for _, key := range []string{"authorizationParams", "tokenParams"} {
				res := parseBlock(t, map[string]any{key: map[string]any{name: "x", "ok": "y"}})
				pr := problemAt(t, res, block+"."+key+"."+name)
				assert.Equal(t, SeverityError, pr.Severity)
				assert.Empty(t, res.Providers)
			}
		}
		res := parseBlock(t, map[string]any{"tokenParams": map[string]any{"Refresh_Token": "x"}})
		require.Empty(t, res.Providers)
	})
}

func TestCacheKeyAndRequestParams(t *testing.T) {
	base := keyProvider().CacheKey()
	same := keyProvider()
	same.Prompt, same.LoginHint = "login", "alice"
	same.ClientAuthMethod, same.ClientAssertionKeyFile, same.ClientAssertionKeyID = AuthMethodPrivateKeyJWT, "/k.pem", "k1"
	same.ClientAssertionSource = &SubjectTokenSource{Type: SourceEnv, Var: "A"}
	assert.Equal(t, base, same.CacheKey(), "prompt, loginHint and the client authentication do not scope a token")

	seen := map[string]string{base: "base"}
	for name, change := range map[string]func(p *Provider){
		"acr values":           func(p *Provider) { p.ACRValues = "mfa" },
		"authorization params": func(p *Provider) { p.AuthorizationParams = map[string]string{"connector_id": "github"} },
		"token params":         func(p *Provider) { p.TokenParams = map[string]string{"connector_id": "github"} },
		"token param value":    func(p *Provider) { p.TokenParams = map[string]string{"connector_id": "ldap"} },
	} {
		p := keyProvider()
		change(&p)
		k := p.CacheKey()
		assert.NotContains(t, seen, k, "%s collides with %s", name, seen[k])
		seen[k] = name
	}
}
