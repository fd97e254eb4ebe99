package config

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaults(t *testing.T) {
	p := only(t, parseBlock(t, nil))
	assert.Equal(t, Provider{
		ID: "acme", Name: "acme", BaseURL: "https://llm.example.com/v1", Origin: block,
		Issuer: "https://idp.example.com/realms/r", ClientID: "cli",
		Scopes: []string{"openid", "offline_access"}, Flow: AuthorizationCode, PKCE: true,
		LoginTimeout: DefaultLoginTimeout, SyncInterval: DefaultSyncInterval, MaxModels: DefaultMaxModels,
		ExpirySkew: DefaultExpirySkew, HTTPTimeout: DefaultHTTPTimeout,
	}, p)
}

func TestValidFields(t *testing.T) {
	jwt := func(src map[string]any) map[string]any {
		return map[string]any{"authFlow": "jwt_bearer", "subjectTokenSource": src}
	}
	cases := []struct {
		name  string
		over  map[string]any
		check func(t *testing.T, p Provider)
	}{
		{"issuer is trimmed", map[string]any{"issuer": "  https://idp.example.com  "}, func(t *testing.T, p Provider) {
			assert.Equal(t, "https://idp.example.com", p.Issuer)
		}},
		{"loopback issuer may be http", map[string]any{"issuer": "http://127.0.0.1:8080/realms/r"}, func(t *testing.T, p Provider) {
			assert.Equal(t, "http://127.0.0.1:8080/realms/r", p.Issuer)
		}},
		{"clientId", map[string]any{"clientId": " my-client "}, func(t *testing.T, p Provider) {
			assert.Equal(t, "my-client", p.ClientID)
		}},
		{"clientSecret", map[string]any{"clientSecret": canary}, func(t *testing.T, p Provider) {
			assert.Equal(t, canary, p.ClientSecret.Reveal())
		}},
		{"clientAuthMethod basic", map[string]any{"clientAuthMethod": "client_secret_basic", "clientSecret": canary}, func(t *testing.T, p Provider) {
			assert.Equal(t, AuthMethodBasic, p.ClientAuthMethod)
		}},
		{"clientAuthMethod post", map[string]any{"clientAuthMethod": "client_secret_post", "clientSecret": canary}, func(t *testing.T, p Provider) {
			assert.Equal(t, AuthMethodPost, p.ClientAuthMethod)
		}},
		{"clientAuthMethod none", map[string]any{"clientAuthMethod": "none"}, func(t *testing.T, p Provider) {
			assert.Equal(t, AuthMethodNone, p.ClientAuthMethod)
		}},
		{"scopes as a string", map[string]any{"scopes": "openid, profile\toffline_access,,openid"}, func(t *testing.T, p Provider) {
			assert.Equal(t, []string{"openid", "profile", "offline_access"}, p.Scopes)
		}},
		{"scopes array elements are split on spaces and deduplicated", map[string]any{"scopes": []any{"openid profile", "openid", "api:read"}}, func(t *testing.T, p Provider) {
			assert.Equal(t, []string{"openid", "profile", "api:read"}, p.Scopes)
		}},
		{"authFlow device_code", map[string]any{"authFlow": "device_code"}, func(t *testing.T, p Provider) {
			assert.Equal(t, DeviceCode, p.Flow)
		}},
		{"authFlow client_credentials without scopes", map[string]any{"authFlow": "client_credentials", "clientSecret": canary, "scopes": del}, func(t *testing.T, p Provider) {
			assert.Equal(t, ClientCredentials, p.Flow)
			assert.Empty(t, p.Scopes)
		}},
		{"pkce false", map[string]any{"pkce": false}, func(t *testing.T, p Provider) { assert.False(t, p.PKCE) }},
		{"redirectPort", map[string]any{"redirectPort": 8085}, func(t *testing.T, p Provider) { assert.Equal(t, 8085, p.RedirectPort) }},
		{"redirectPort written as 8085.0", map[string]any{"redirectPort": json.Number("8085.0")}, func(t *testing.T, p Provider) {
			assert.Equal(t, 8085, p.RedirectPort)
		}},
		{"redirectPort in exponent form", map[string]any{"redirectPort": json.Number("8.085e3")}, func(t *testing.T, p Provider) {
			assert.Equal(t, 8085, p.RedirectPort)
		}},
		{"loginTimeoutSeconds", map[string]any{"loginTimeoutSeconds": 120}, func(t *testing.T, p Provider) {
			assert.Equal(t, 2*time.Minute, p.LoginTimeout)
		}},
		{"syncIntervalMinutes fractional", map[string]any{"syncIntervalMinutes": 1.5}, func(t *testing.T, p Provider) {
			assert.Equal(t, 90*time.Second, p.SyncInterval)
		}},
		{"syncIntervalMinutes at the upper bound", map[string]any{"syncIntervalMinutes": 10080}, func(t *testing.T, p Provider) {
			assert.Equal(t, 7*24*time.Hour, p.SyncInterval)
		}},
		{"maxModels", map[string]any{"maxModels": 250}, func(t *testing.T, p Provider) {
			assert.Equal(t, 250, p.MaxModels)
		}},
		{"nameOverrides", map[string]any{"nameOverrides": map[string]any{"gpt-4o": " GPT-4o "}}, func(t *testing.T, p Provider) {
			assert.Equal(t, map[string]string{"gpt-4o": "GPT-4o"}, p.NameOverrides)
		}},
		{"endpoints", map[string]any{
			"authorizationEndpoint": "https://idp.example.com/auth", "tokenEndpoint": "https://idp.example.com/token",
			"deviceAuthorizationEndpoint": "https://idp.example.com/device", "jwksUri": "https://idp.example.com/jwks",
			"revocationEndpoint": "https://idp.example.com/revoke", "modelsURL": "https://llm.example.com/v1/models?all=1",
		}, func(t *testing.T, p Provider) {
			assert.Equal(t, Endpoints{
				Authorization: "https://idp.example.com/auth", Token: "https://idp.example.com/token",
				DeviceAuthorization: "https://idp.example.com/device", JWKS: "https://idp.example.com/jwks",
				Revocation: "https://idp.example.com/revoke",
			}, p.Endpoints)
			assert.Equal(t, "https://llm.example.com/v1/models?all=1", p.ModelsURL)
		}},
		{"subjectTokenSource github_actions", jwt(map[string]any{"type": "github_actions", "audience": " api://x "}), func(t *testing.T, p Provider) {
			assert.Equal(t, JWTBearer, p.Flow)
			assert.Equal(t, &SubjectTokenSource{Type: SourceGitHubActions, Audience: "api://x"}, p.SubjectToken)
			assert.Empty(t, p.SubjectTokenType, "subjectTokenType defaults only for token_exchange")
		}},
		{"subjectTokenSource kubernetes_sa default path", jwt(map[string]any{"type": "kubernetes_sa"}), func(t *testing.T, p Provider) {
			assert.Equal(t, &SubjectTokenSource{Type: SourceKubernetesSA, Path: DefaultKubernetesTokenPath}, p.SubjectToken)
		}},
		{"subjectTokenSource kubernetes_sa tokenPath", jwt(map[string]any{"type": "kubernetes_sa", "tokenPath": "/t"}), func(t *testing.T, p Provider) {
			assert.Equal(t, &SubjectTokenSource{Type: SourceKubernetesSA, Path: "/t"}, p.SubjectToken)
		}},
		{"subjectTokenSource file", jwt(map[string]any{"type": "file", "path": "/run/token"}), func(t *testing.T, p Provider) {
			assert.Equal(t, &SubjectTokenSource{Type: SourceFile, Path: "/run/token"}, p.SubjectToken)
		}},
		{"subjectTokenSource env", jwt(map[string]any{"type": "env", "var": "MY_TOKEN"}), func(t *testing.T, p Provider) {
			assert.Equal(t, &SubjectTokenSource{Type: SourceEnv, Var: "MY_TOKEN"}, p.SubjectToken)
		}},
		{"token_exchange options", map[string]any{
			"authFlow": "token_exchange", "subjectTokenSource": map[string]any{"type": "env", "var": "T"},
			"subjectTokenType":      "urn:ietf:params:oauth:token-type:id_token",
			"tokenExchangeAudience": "gateway", "requestedTokenType": "urn:ietf:params:oauth:token-type:access_token",
		}, func(t *testing.T, p Provider) {
			assert.Equal(t, TokenExchange, p.Flow)
			assert.Equal(t, "urn:ietf:params:oauth:token-type:id_token", p.SubjectTokenType)
			assert.Equal(t, "gateway", p.Audience)
			assert.Equal(t, "urn:ietf:params:oauth:token-type:access_token", p.RequestedTokenType)
		}},
		{"token_exchange default subjectTokenType", map[string]any{
			"authFlow": "token_exchange", "subjectTokenSource": map[string]any{"type": "env", "var": "T"},
		}, func(t *testing.T, p Provider) {
			assert.Equal(t, DefaultSubjectTokenType, p.SubjectTokenType)
		}},
		{"resource as a string", map[string]any{"resource": "https://api.example.com"}, func(t *testing.T, p Provider) {
			assert.Equal(t, []string{"https://api.example.com"}, p.Resources)
		}},
		{"resource as an array", map[string]any{"resource": []any{"https://a.example.com", "urn:x:y", "https://a.example.com"}}, func(t *testing.T, p Provider) {
			assert.Equal(t, []string{"https://a.example.com", "urn:x:y"}, p.Resources)
		}},
		{"responseApi", map[string]any{"responseApi": true}, func(t *testing.T, p Provider) { assert.True(t, p.ResponseAPI) }},
		{"allowInsecureHttp permits http anywhere", map[string]any{"allowInsecureHttp": true, "issuer": "http://idp.internal", "tokenEndpoint": "http://idp.internal/token"}, func(t *testing.T, p Provider) {
			assert.True(t, p.AllowInsecureHTTP)
			assert.Equal(t, "http://idp.internal", p.Issuer)
			assert.Equal(t, "http://idp.internal/token", p.Endpoints.Token)
		}},
		{"caFile", map[string]any{"caFile": "/etc/ssl/corp.pem"}, func(t *testing.T, p Provider) { assert.Equal(t, "/etc/ssl/corp.pem", p.CAFile) }},
		{"tokenExpirySkewMs zero", map[string]any{"tokenExpirySkewMs": 0}, func(t *testing.T, p Provider) { assert.Equal(t, time.Duration(0), p.ExpirySkew) }},
		{"tokenExpirySkewMs", map[string]any{"tokenExpirySkewMs": 60000}, func(t *testing.T, p Provider) { assert.Equal(t, time.Minute, p.ExpirySkew) }},
		{"httpTimeoutMs", map[string]any{"httpTimeoutMs": 5000}, func(t *testing.T, p Provider) { assert.Equal(t, 5*time.Second, p.HTTPTimeout) }},
		{"null means unset", map[string]any{"clientSecret": nil, "redirectPort": nil, "pkce": nil, "authFlow": nil}, func(t *testing.T, p Provider) {
			assert.True(t, p.ClientSecret.IsZero())
			assert.Zero(t, p.RedirectPort)
			assert.True(t, p.PKCE)
			assert.Equal(t, AuthorizationCode, p.Flow)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := parseBlock(t, tc.over)
			assert.Empty(t, res.Problems)
			tc.check(t, only(t, res))
		})
	}
}

func TestOAuth2ModelSyncAlias(t *testing.T) {
	raw := mustJSON(t, map[string]any{"provider": map[string]any{"acme": map[string]any{
		"options": map[string]any{"baseURL": "https://llm.example.com/v1", "oauth2ModelSync": baseBlock()},
	}}})
	res := parse(t, raw)
	assert.Empty(t, res.Problems)
	assert.Equal(t, "provider.acme.options.oauth2ModelSync", only(t, res).Origin)
}

func TestIsInteger(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"0", true}, {"-0.0", true}, {"8080", true}, {"8080.000", true}, {"8.08e3", true}, {"80800e-1", true},
		{"0.001e3", true}, {"-12", true}, {"1E2", true}, {"1e19", true}, {"9223372036854775808", true},
		{"1e400", true}, {"1e99999999", true}, {"0e99999999", true}, {"-9223372036854775808", true}, {"1e+2", true},
		{"8080.0000000000000001", false}, {"0.5", false}, {"5e-1", false}, {"1e-99999999", false},
		{"1.5e-9223372036854775808", false}, {"1e99999999999999999999", false}, {"0.0e99999999999999999999", true},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, isInteger(json.Number(tc.in)), tc.in)
	}
}

func TestSyncIntervalClamping(t *testing.T) {
	cases := []struct {
		in   json.Number
		want time.Duration
		hint string
	}{
		{"0", time.Minute, "using 1"},
		{"-5", time.Minute, "using 1"},
		{"0.5", time.Minute, "using 1"},
		{"10081", 7 * 24 * time.Hour, "using 10080"},
		{"35792", 7 * 24 * time.Hour, "using 10080"}, // overflowed the original's timer
		{"1e400", 7 * 24 * time.Hour, "using 10080"},
	}
	for _, tc := range cases {
		t.Run(string(tc.in), func(t *testing.T) {
			res := parseBlock(t, map[string]any{"syncIntervalMinutes": tc.in})
			assert.Equal(t, tc.want, only(t, res).SyncInterval)
			p := problemAt(t, res, block+".syncIntervalMinutes")
			assert.Equal(t, SeverityWarning, p.Severity)
			assert.Equal(t, tc.hint, p.Hint)
			assert.Equal(t, string(tc.in), p.Found)
		})
	}
}

func TestOtherClamping(t *testing.T) {
	cases := []struct {
		key  string
		in   any
		hint string
		get  func(Provider) time.Duration
		want time.Duration
	}{
		{"loginTimeoutSeconds", 1, "using 10", func(p Provider) time.Duration { return p.LoginTimeout }, 10 * time.Second},
		{"loginTimeoutSeconds", 86400, "using 3600", func(p Provider) time.Duration { return p.LoginTimeout }, time.Hour},
		{"httpTimeoutMs", 1, "using 100", func(p Provider) time.Duration { return p.HTTPTimeout }, 100 * time.Millisecond},
		{"httpTimeoutMs", json.Number("1e30"), "using 600000", func(p Provider) time.Duration { return p.HTTPTimeout }, 10 * time.Minute},
		{"tokenExpirySkewMs", -5, "using 0", func(p Provider) time.Duration { return p.ExpirySkew }, 0},
		{"tokenExpirySkewMs", json.Number("-1e30"), "using 0", func(p Provider) time.Duration { return p.ExpirySkew }, 0},
		{"tokenExpirySkewMs", 7200000, "using 3600000", func(p Provider) time.Duration { return p.ExpirySkew }, time.Hour},
	}
	for _, tc := range cases {
		res := parseBlock(t, map[string]any{tc.key: tc.in})
		assert.Equal(t, tc.want, tc.get(only(t, res)), tc.key)
		p := problemAt(t, res, block+"."+tc.key)
		assert.Equal(t, SeverityWarning, p.Severity)
		assert.Equal(t, tc.hint, p.Hint)
	}
}

func TestNameOverridesBadEntriesAreWarnings(t *testing.T) {
	res := parseBlock(t, map[string]any{"nameOverrides": map[string]any{"ok": "OK", "num": 5, "blank": " ", "": "x"}})
	p := only(t, res)
	assert.Equal(t, map[string]string{"ok": "OK"}, p.NameOverrides)
	require.Len(t, res.Problems, 3)
	for _, pr := range res.Problems {
		assert.Equal(t, SeverityWarning, pr.Severity)
		assert.Equal(t, "ignored", pr.Hint)
	}
	assert.Equal(t, `provider "acme": provider.acme.options.oauth2.nameOverrides.num must be a non-empty display name string, found 5; ignored`,
		problemAt(t, res, block+".nameOverrides.num").Message())
	assert.Equal(t, `provider "acme": provider.acme.options.oauth2.nameOverrides[""] must be a non-empty model id as the key, found ""; ignored`,
		problemAt(t, res, block+`.nameOverrides[""]`).Message())
}

func TestOptionalBlankStringsAreIgnoredWithAWarning(t *testing.T) {
	res := parseBlock(t, map[string]any{"tokenEndpoint": "  ", "caFile": ""})
	p := only(t, res)
	assert.Empty(t, p.Endpoints.Token)
	assert.Empty(t, p.CAFile)
	assert.Equal(t, `provider "acme": provider.acme.options.oauth2.tokenEndpoint must be an absolute https URL, found "  "; ignored`,
		problemAt(t, res, block+".tokenEndpoint").Message())
	assert.Equal(t, SeverityWarning, problemAt(t, res, block+".caFile").Severity)
}
