package config

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFieldErrors pins the problem (field, severity, one-line message) for
// every kind of bad value of every field of an oauth2 block.
func TestFieldErrors(t *testing.T) {
	const pre = `provider "acme": provider.acme.options.oauth2.`
	const insecureHint = `; plain http is only accepted for loopback hosts (localhost, 127.0.0.0/8, ::1); to allow it anyway set "allowInsecureHttp": true in provider.acme.options.oauth2`
	absURL := `an absolute http(s) URL, like "https://auth.example.com"`
	src := func(s any) map[string]any { return map[string]any{"authFlow": "jwt_bearer", "subjectTokenSource": s} }
	cases := []struct {
		name  string
		over  map[string]any
		field string // after provider.acme.options.oauth2.
		sev   Severity
		msg   string // after pre
	}{
		{"issuer missing", map[string]any{"issuer": del}, "issuer", SeverityError,
			"issuer is missing: expected an absolute https URL (the authorization server's issuer)"},
		{"issuer null", map[string]any{"issuer": nil}, "issuer", SeverityError,
			"issuer is missing: expected an absolute https URL (the authorization server's issuer)"},
		{"issuer empty", map[string]any{"issuer": ""}, "issuer", SeverityError,
			`issuer must be an absolute https URL (the authorization server's issuer), found ""`},
		{"issuer number", map[string]any{"issuer": 5}, "issuer", SeverityError,
			"issuer must be an absolute https URL (the authorization server's issuer), found 5"},
		{"issuer not http", map[string]any{"issuer": "ftp://x"}, "issuer", SeverityError,
			`issuer must be ` + absURL + `, found "ftp://x"`},
		{"issuer relative", map[string]any{"issuer": "idp.example.com"}, "issuer", SeverityError,
			`issuer must be ` + absURL + `, found "idp.example.com"`},
		{"issuer http", map[string]any{"issuer": "http://idp.example.com"}, "issuer", SeverityError,
			`issuer must be an https URL, found "http://idp.example.com"` + insecureHint},
		{"issuer with credentials", map[string]any{"issuer": "https://user:pa55@idp.example.com/r"}, "issuer", SeverityError,
			`issuer must be a URL without user:password@, found "https://***@idp.example.com/r"; credentials do not belong in URLs`},
		{"issuer with query", map[string]any{"issuer": "https://idp.example.com?x=1"}, "issuer", SeverityError,
			`issuer must be an issuer URL without a ?query, found "https://idp.example.com?x=1"; RFC 8414 issuers have no query`},
		{"issuer with fragment", map[string]any{"issuer": "https://idp.example.com#f"}, "issuer", SeverityError,
			`issuer must be a URL without a #fragment, found "https://idp.example.com#f"`},
		{"issuer without host", map[string]any{"issuer": "https://:443"}, "issuer", SeverityError,
			`issuer must be ` + absURL + `, found "https://:443"; the host is missing`},
		{"issuer bad port", map[string]any{"issuer": "https://idp.example.com:99999"}, "issuer", SeverityError,
			`issuer must be ` + absURL + `, found "https://idp.example.com:99999"; the port must be in [1, 65535]`},
		{"issuer with whitespace", map[string]any{"issuer": "https://idp.example.com/a b"}, "issuer", SeverityError,
			`issuer must be ` + absURL + `, found "https://idp.example.com/a b"; URLs cannot contain whitespace`},
		{"clientId missing", map[string]any{"clientId": del}, "clientId", SeverityError,
			"clientId is missing: expected a non-empty string (the OAuth client id)"},
		{"clientId number", map[string]any{"clientId": 42}, "clientId", SeverityError,
			"clientId must be a non-empty string (the OAuth client id), found 42"},
		{"clientSecret number", map[string]any{"clientSecret": 5}, "clientSecret", SeverityError,
			"clientSecret must be a non-empty string (the OAuth client secret), found a number"},
		{"clientSecret empty", map[string]any{"clientSecret": ""}, "clientSecret", SeverityError,
			"clientSecret must be a non-empty string (the OAuth client secret), found an empty string"},
		{"clientSecret blank", map[string]any{"clientSecret": "   "}, "clientSecret", SeverityError,
			"clientSecret must be a non-empty string (the OAuth client secret), found a string of only whitespace"},
		{"clientSecret object", map[string]any{"clientSecret": map[string]any{"v": canary}}, "clientSecret", SeverityError,
			"clientSecret must be a non-empty string (the OAuth client secret), found an object"},
		{"clientSecret padded", map[string]any{"clientSecret": " " + canary + "\n"}, "clientSecret", SeverityWarning,
			"clientSecret must be a string without leading or trailing whitespace, found a string with leading or trailing whitespace; used as written"},
		{"clientSecret with auth none", map[string]any{"clientSecret": canary, "clientAuthMethod": "none"}, "clientSecret", SeverityWarning,
			`clientSecret must be unset when clientAuthMethod is "none", found a string; it is not sent`},
		{"clientSecret missing for client_credentials", map[string]any{"authFlow": "client_credentials"}, "clientSecret", SeverityError,
			`clientSecret is missing: expected a non-empty string (required when authFlow is "client_credentials", unless clientAuthMethod is "private_key_jwt")`},
		{"clientSecret missing for basic auth", map[string]any{"clientAuthMethod": "client_secret_basic"}, "clientSecret", SeverityError,
			`clientSecret is missing: expected a non-empty string (required when clientAuthMethod is "client_secret_basic")`},
		{"clientAuthMethod unknown", map[string]any{"clientAuthMethod": "basic"}, "clientAuthMethod", SeverityError,
			`clientAuthMethod must be one of "client_secret_post" | "client_secret_basic" | "none" | "private_key_jwt", found "basic"`},
		{"clientAuthMethod none with client_credentials", map[string]any{"clientAuthMethod": "none", "authFlow": "client_credentials", "clientSecret": canary},
			"clientAuthMethod", SeverityError,
			`clientAuthMethod must be "client_secret_post", "client_secret_basic" or "private_key_jwt" when authFlow is "client_credentials", found "none"`},
		{"private_key_jwt without key or source", map[string]any{"clientAuthMethod": "private_key_jwt"}, "clientAssertionKeyFile", SeverityError,
			`clientAssertionKeyFile is missing: expected a path to the client's private key, or clientAssertionSource instead, when clientAuthMethod is "private_key_jwt"`},
		{"key file with a secret-based method", map[string]any{"clientAssertionKeyFile": "/k.pem", "clientAuthMethod": "client_secret_basic", "clientSecret": canary},
			"clientAuthMethod", SeverityError,
			`clientAuthMethod must be "private_key_jwt" or unset when clientAssertionKeyFile is set, found "client_secret_basic"`},
		{"source with auth none", map[string]any{"clientAssertionSource": map[string]any{"type": "env", "var": "X"}, "clientAuthMethod": "none"},
			"clientAuthMethod", SeverityError,
			`clientAuthMethod must be "private_key_jwt" or unset when clientAssertionSource is set, found "none"`},
		{"key file and source", map[string]any{"clientAssertionKeyFile": "/k.pem", "clientAssertionSource": map[string]any{"type": "env", "var": "X"}},
			"clientAssertionSource", SeverityError,
			`clientAssertionSource must be unset when clientAssertionKeyFile is set (the client assertion is either signed with the key or read from the source), found an object`},
		{"key file blank", map[string]any{"clientAssertionKeyFile": " "}, "clientAssertionKeyFile", SeverityWarning,
			`clientAssertionKeyFile must be a non-empty path to the client's private key (PEM: PKCS#8, PKCS#1 or EC; or a JWK or JWK set JSON file), found " "; ignored`},
		{"key id without key file", map[string]any{"clientAssertionKeyId": "k1"}, "clientAssertionKeyId", SeverityWarning,
			`clientAssertionKeyId must be unset unless clientAssertionKeyFile is set, found "k1"; ignored`},
		{"alg without key file", map[string]any{"clientAssertionAlg": "ES256", "clientAssertionSource": map[string]any{"type": "env", "var": "X"}},
			"clientAssertionAlg", SeverityWarning,
			`clientAssertionAlg must be unset unless clientAssertionKeyFile is set, found "ES256"; ignored`},
		{"alg unknown", map[string]any{"clientAssertionKeyFile": "/k.pem", "clientAssertionAlg": "HS256"}, "clientAssertionAlg", SeverityError,
			`clientAssertionAlg must be one of "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" | "ES256" | "ES384" | "ES512" | "EdDSA", found "HS256"; did you mean "RS256"?`},
		{"secret with private_key_jwt", map[string]any{"clientAssertionKeyFile": "/k.pem", "clientSecret": canary}, "clientSecret", SeverityWarning,
			`clientSecret must be unset when clientAuthMethod is "private_key_jwt", found a string; it is not sent`},
		{"clientAssertionSource type missing", map[string]any{"clientAssertionSource": map[string]any{"path": "/t"}}, "clientAssertionSource.type", SeverityError,
			`clientAssertionSource.type is missing: expected one of "github_actions" | "kubernetes_sa" | "file" | "env"`},
		{"clientAssertionSource string", map[string]any{"clientAssertionSource": "env"}, "clientAssertionSource", SeverityError,
			`clientAssertionSource must be an object like {"type": "github_actions", "audience": "..."} with type "github_actions" | "kubernetes_sa" | "file" | "env", found "env"`},
		{"scopes missing", map[string]any{"scopes": del}, "scopes", SeverityError,
			`scopes is missing: expected at least one scope, like ["openid", "offline_access"], when authFlow is "authorization_code"`},
		{"scopes empty string", map[string]any{"scopes": " , "}, "scopes", SeverityError,
			`scopes must be at least one scope, like ["openid", "offline_access"], when authFlow is "authorization_code", found " , "`},
		{"scopes empty array for device_code", map[string]any{"scopes": []any{}, "authFlow": "device_code"}, "scopes", SeverityError,
			`scopes must be at least one scope, like ["openid", "offline_access"], when authFlow is "device_code", found []`},
		{"scopes number", map[string]any{"scopes": 5}, "scopes", SeverityError,
			`scopes must be an array of scope strings or a string like "openid profile", found 5`},
		{"scopes element number", map[string]any{"scopes": []any{"openid", 5}}, "scopes[1]", SeverityError,
			"scopes[1] must be a scope string, found 5"},
		{"scopes element blank", map[string]any{"scopes": []any{"openid", " "}}, "scopes[1]", SeverityWarning,
			`scopes[1] must be a non-empty scope string, found " "; ignored`},
		{"scopes bad character", map[string]any{"scopes": []any{`a"b`}}, "scopes", SeverityError,
			`scopes must be scope tokens of printable ASCII without spaces, '"' or '\', found "a\"b"`},
		{"authFlow typo", map[string]any{"authFlow": "client-credentials"}, "authFlow", SeverityError,
			`authFlow must be one of "authorization_code" | "device_code" | "client_credentials" | "jwt_bearer" | "token_exchange", found "client-credentials"; did you mean "client_credentials"?`},
		{"authFlow number", map[string]any{"authFlow": 3}, "authFlow", SeverityError,
			`authFlow must be one of "authorization_code" | "device_code" | "client_credentials" | "jwt_bearer" | "token_exchange", found 3`},
		{"pkce string", map[string]any{"pkce": "yes"}, "pkce", SeverityError,
			`pkce must be a boolean (true or false), found "yes"`},
		{"redirectPort string", map[string]any{"redirectPort": "abc"}, "redirectPort", SeverityError,
			`redirectPort must be an integer in [1, 65535], found "abc"`},
		{"redirectPort zero", map[string]any{"redirectPort": 0}, "redirectPort", SeverityError,
			`redirectPort must be an integer in [1, 65535], found 0`},
		{"redirectPort too big", map[string]any{"redirectPort": 65536}, "redirectPort", SeverityError,
			`redirectPort must be an integer in [1, 65535], found 65536`},
		{"redirectPort fraction", map[string]any{"redirectPort": json.Number("8080.0000000000000001")}, "redirectPort", SeverityError,
			`redirectPort must be an integer in [1, 65535], found 8080.0000000000000001`},
		{"redirectPort huge", map[string]any{"redirectPort": json.Number("1e400")}, "redirectPort", SeverityError,
			`redirectPort must be an integer in [1, 65535], found 1e400`},
		{"redirectPort for device_code", map[string]any{"redirectPort": 8080, "authFlow": "device_code"}, "redirectPort", SeverityWarning,
			`redirectPort must be unset unless authFlow is "authorization_code", found 8080; ignored because authFlow is "device_code"`},
		{"loginTimeoutSeconds string", map[string]any{"loginTimeoutSeconds": "x"}, "loginTimeoutSeconds", SeverityError,
			`loginTimeoutSeconds must be an integer number of seconds in [10, 3600], found "x"`},
		{"maxModels string", map[string]any{"maxModels": "10"}, "maxModels", SeverityError,
			`maxModels must be an integer number of models in [1, 20000], found "10"`},
		{"maxModels too large", map[string]any{"maxModels": 1000000}, "maxModels", SeverityWarning,
			`maxModels must be an integer number of models in [1, 20000], found 1000000; using 20000`},
		{"syncIntervalMinutes string", map[string]any{"syncIntervalMinutes": "60"}, "syncIntervalMinutes", SeverityError,
			`syncIntervalMinutes must be a number of minutes in [1, 10080] (1 minute to 7 days), found "60"`},
		{"syncIntervalMinutes too small", map[string]any{"syncIntervalMinutes": 0}, "syncIntervalMinutes", SeverityWarning,
			`syncIntervalMinutes must be a number of minutes in [1, 10080] (1 minute to 7 days), found 0; using 1`},
		{"nameOverrides array", map[string]any{"nameOverrides": []any{}}, "nameOverrides", SeverityError,
			`nameOverrides must be an object mapping model ids to display names, like {"gpt-4o": "GPT-4o"}, found []`},
		{"tokenEndpoint http", map[string]any{"tokenEndpoint": "http://idp.example.com/token"}, "tokenEndpoint", SeverityError,
			`tokenEndpoint must be an https URL, found "http://idp.example.com/token"` + insecureHint},
		{"authorizationEndpoint number", map[string]any{"authorizationEndpoint": 1}, "authorizationEndpoint", SeverityError,
			`authorizationEndpoint must be an absolute https URL, found 1`},
		{"deviceAuthorizationEndpoint relative", map[string]any{"deviceAuthorizationEndpoint": "/device"}, "deviceAuthorizationEndpoint", SeverityError,
			`deviceAuthorizationEndpoint must be ` + absURL + `, found "/device"`},
		{"jwksUri credentials", map[string]any{"jwksUri": "https://a:b@idp.example.com/jwks"}, "jwksUri", SeverityError,
			`jwksUri must be a URL without user:password@, found "https://***@idp.example.com/jwks"; credentials do not belong in URLs`},
		{"revocationEndpoint fragment", map[string]any{"revocationEndpoint": "https://idp.example.com/r#x"}, "revocationEndpoint", SeverityError,
			`revocationEndpoint must be a URL without a #fragment, found "https://idp.example.com/r#x"`},
		{"modelsURL scheme", map[string]any{"modelsURL": "file:///models.json"}, "modelsURL", SeverityError,
			`modelsURL must be an absolute http(s) URL, like "https://llm.example.com/v1/models", found "file:///models.json"`},
		{"subjectTokenSource missing", map[string]any{"authFlow": "jwt_bearer"}, "subjectTokenSource", SeverityError,
			`subjectTokenSource is missing: expected an object like {"type": "github_actions" | "kubernetes_sa" | "file" | "env", ...} (required when authFlow is "jwt_bearer")`},
		{"subjectTokenSource string", src("env"), "subjectTokenSource", SeverityError,
			`subjectTokenSource must be an object like {"type": "github_actions", "audience": "..."} with type "github_actions" | "kubernetes_sa" | "file" | "env", found "env"`},
		{"subjectTokenSource type missing", src(map[string]any{"var": "X"}), "subjectTokenSource.type", SeverityError,
			`subjectTokenSource.type is missing: expected one of "github_actions" | "kubernetes_sa" | "file" | "env"`},
		{"subjectTokenSource type typo", src(map[string]any{"type": "kubernetes"}), "subjectTokenSource.type", SeverityError,
			`subjectTokenSource.type must be one of "github_actions" | "kubernetes_sa" | "file" | "env", found "kubernetes"; did you mean "kubernetes_sa"?`},
		{"github_actions without audience", src(map[string]any{"type": "github_actions"}), "subjectTokenSource.audience", SeverityError,
			`subjectTokenSource.audience is missing: expected a non-empty string (the audience requested from GitHub) when type is "github_actions"`},
		{"file without path", src(map[string]any{"type": "file", "path": ""}), "subjectTokenSource.path", SeverityError,
			`subjectTokenSource.path must be a non-empty path to a file holding the token when type is "file", found ""`},
		{"env without var", src(map[string]any{"type": "env", "var": 1}), "subjectTokenSource.var", SeverityError,
			`subjectTokenSource.var must be a non-empty environment variable name when type is "env", found 1`},
		{"env var with =", src(map[string]any{"type": "env", "var": "A=B"}), "subjectTokenSource.var", SeverityError,
			`subjectTokenSource.var must be a non-empty environment variable name when type is "env", found "A=B"`},
		{"kubernetes_sa blank tokenPath", src(map[string]any{"type": "kubernetes_sa", "tokenPath": " "}), "subjectTokenSource.tokenPath", SeverityWarning,
			`subjectTokenSource.tokenPath must be a non-empty path to the projected service-account token, found " "; ignored`},
		{"kubernetes_sa with path", src(map[string]any{"type": "kubernetes_sa", "path": "/x"}), "subjectTokenSource.path", SeverityWarning,
			`subjectTokenSource.path is not a known option; used only when type is "file"; ignored`},
		{"subjectTokenSource for authorization_code", map[string]any{"subjectTokenSource": map[string]any{"type": "env", "var": "X"}}, "subjectTokenSource", SeverityWarning,
			`subjectTokenSource must be unset unless authFlow is "jwt_bearer" or "token_exchange", found {"type":"env","var":"X"}; ignored because authFlow is "authorization_code"`},
		{"bad subjectTokenSource for authorization_code is a warning", map[string]any{"subjectTokenSource": map[string]any{"type": "nope"}}, "subjectTokenSource.type", SeverityWarning,
			`subjectTokenSource.type must be one of "github_actions" | "kubernetes_sa" | "file" | "env", found "nope"`},
		{"subjectTokenType not a URI", map[string]any{"authFlow": "token_exchange", "subjectTokenSource": map[string]any{"type": "env", "var": "X"}, "subjectTokenType": "jwt"},
			"subjectTokenType", SeverityError,
			`subjectTokenType must be an absolute URI, like "urn:ietf:params:oauth:token-type:jwt", found "jwt"`},
		{"requestedTokenType number", map[string]any{"authFlow": "token_exchange", "subjectTokenSource": map[string]any{"type": "env", "var": "X"}, "requestedTokenType": 1},
			"requestedTokenType", SeverityError,
			`requestedTokenType must be an absolute URI, like "urn:ietf:params:oauth:token-type:access_token", found 1`},
		{"tokenExchangeAudience number", map[string]any{"authFlow": "token_exchange", "subjectTokenSource": map[string]any{"type": "env", "var": "X"}, "tokenExchangeAudience": 1},
			"tokenExchangeAudience", SeverityError,
			`tokenExchangeAudience must be a non-empty string (the audience of the exchanged token), found 1`},
		{"tokenExchangeAudience for another flow", map[string]any{"tokenExchangeAudience": "x"}, "tokenExchangeAudience", SeverityWarning,
			`tokenExchangeAudience must be unset unless authFlow is "token_exchange", found "x"; ignored because authFlow is "authorization_code"`},
		{"audience and tokenExchangeAudience", map[string]any{"authFlow": "token_exchange", "subjectTokenSource": map[string]any{"type": "env", "var": "X"},
			"tokenExchangeAudience": "a", "audience": "b"}, "audience", SeverityError,
			`audience must be unset when tokenExchangeAudience is set (both are the audience parameter), found "b"`},
		{"audience number", map[string]any{"audience": 1}, "audience", SeverityError,
			`audience must be a non-empty string (the audience parameter, e.g. Auth0's API identifier), found 1`},
		{"prompt for device_code", map[string]any{"prompt": "login", "authFlow": "device_code"}, "prompt", SeverityWarning,
			`prompt must be unset unless authFlow is "authorization_code", found "login"; ignored because authFlow is "device_code"`},
		{"loginHint with a line break", map[string]any{"loginHint": "a\nb"}, "loginHint", SeverityError,
			`loginHint must be a non-empty string (the login_hint, e.g. the user's e-mail address) of printable characters, found "a\nb"`},
		{"acrValues array", map[string]any{"acrValues": []any{"x"}}, "acrValues", SeverityError,
			`acrValues must be a non-empty string of space-separated values (acr_values), like "urn:mace:incommon:iap:silver", found ["x"]`},
		{"tokenParams overriding grant_type", map[string]any{"tokenParams": map[string]any{"grant_type": "password"}}, "tokenParams.grant_type", SeverityError,
			`tokenParams.grant_type must be a parameter the plugin does not set itself, found "grant_type"; authFlow sets it`},
		{"tokenParams overriding the client secret", map[string]any{"tokenParams": map[string]any{"client_secret": canary}}, "tokenParams.client_secret", SeverityError,
			`tokenParams.client_secret must be a parameter the plugin does not set itself, found "client_secret"; use clientSecret`},
		{"authorizationParams overriding state, in another case", map[string]any{"authorizationParams": map[string]any{"State": "x"}}, "authorizationParams.State", SeverityError,
			`authorizationParams.State must be a parameter the plugin does not set itself, found "State"; the plugin sets it for each login`},
		{"authorizationParams overriding redirect_uri", map[string]any{"authorizationParams": map[string]any{"redirect_uri": "https://evil.example.com"}},
			"authorizationParams.redirect_uri", SeverityError,
			`authorizationParams.redirect_uri must be a parameter the plugin does not set itself, found "redirect_uri"; the plugin's loopback redirect sets it`},
		{"authorizationParams overriding code_challenge", map[string]any{"authorizationParams": map[string]any{"code_challenge": "x"}},
			"authorizationParams.code_challenge", SeverityError,
			`authorizationParams.code_challenge must be a parameter the plugin does not set itself, found "code_challenge"; the plugin sets it for each login (PKCE)`},
		{"authorizationParams overriding client_id", map[string]any{"authorizationParams": map[string]any{"client_id": "x"}}, "authorizationParams.client_id", SeverityError,
			`authorizationParams.client_id must be a parameter the plugin does not set itself, found "client_id"; use clientId`},
		{"authorizationParams naming scope", map[string]any{"authorizationParams": map[string]any{"scope": "x"}}, "authorizationParams.scope", SeverityError,
			`authorizationParams.scope must be a parameter the plugin does not set itself, found "scope"; use scopes`},
		{"authorizationParams value a number", map[string]any{"authorizationParams": map[string]any{"connector_id": 5}}, "authorizationParams.connector_id", SeverityError,
			`authorizationParams.connector_id must be a string of printable characters, found 5`},
		{"authorizationParams name with a space", map[string]any{"authorizationParams": map[string]any{"a b": "x"}}, `authorizationParams["a b"]`, SeverityError,
			`authorizationParams["a b"] must be a parameter name of printable ASCII without spaces, '"' or '\', found "a b"`},
		{"authorizationParams a string", map[string]any{"authorizationParams": "connector_id=github"}, "authorizationParams", SeverityError,
			`authorizationParams must be an object of parameter names to string values, like {"connector_id": "github"}, found "connector_id=github"`},
		{"authorizationParams for client_credentials", map[string]any{"authorizationParams": map[string]any{"connector_id": "x"}, "authFlow": "client_credentials", "clientSecret": canary},
			"authorizationParams", SeverityWarning,
			`authorizationParams must be unset unless authFlow is "authorization_code" or "device_code", found {"connector_id":"x"}; ignored because authFlow is "client_credentials"`},
		{"resource fragment", map[string]any{"resource": []any{"https://a#x"}}, "resource[0]", SeverityError,
			`resource[0] must be an absolute URI without a fragment, found "https://a#x"`},
		{"resource relative", map[string]any{"resource": "/api"}, "resource", SeverityError,
			`resource must be an absolute URI without a fragment, found "/api"`},
		{"resource boolean", map[string]any{"resource": true}, "resource", SeverityError,
			`resource must be an absolute URI without a fragment, or an array of them, found true`},
		{"responseApi string", map[string]any{"responseApi": "true"}, "responseApi", SeverityError,
			`responseApi must be a boolean (true or false), found "true"`},
		{"allowInsecureHttp number", map[string]any{"allowInsecureHttp": 1}, "allowInsecureHttp", SeverityError,
			`allowInsecureHttp must be a boolean (true or false), found 1`},
		{"caFile array", map[string]any{"caFile": []any{}}, "caFile", SeverityError,
			`caFile must be a non-empty path to a PEM file, found []`},
		{"httpTimeoutMs fraction", map[string]any{"httpTimeoutMs": 1.5}, "httpTimeoutMs", SeverityError,
			`httpTimeoutMs must be an integer number of milliseconds in [100, 600000], found 1.5`},
		{"tokenExpirySkewMs string", map[string]any{"tokenExpirySkewMs": "30s"}, "tokenExpirySkewMs", SeverityError,
			`tokenExpirySkewMs must be an integer number of milliseconds in [0, 3600000], found "30s"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := parseBlock(t, tc.over)
			p := problemAt(t, res, block+"."+tc.field)
			assert.Equal(t, "acme", p.ProviderID)
			assert.Equal(t, tc.sev, p.Severity)
			assert.Equal(t, pre+tc.msg, p.Message())
			assert.Equal(t, p.Message(), p.Error())
			if tc.sev == SeverityError {
				assert.Empty(t, res.Providers, "a provider with an error must be skipped")
			} else {
				assert.Len(t, res.Providers, 1, "a warning must not skip the provider: %v", messages(res))
			}
		})
	}
}

func TestUnknownKeys(t *testing.T) {
	cases := []struct {
		key, msg string
	}{
		{"clientID", `clientID is not a known option; ignored; did you mean "clientId"?`},
		{"client_secret", `client_secret is not a known option; ignored; did you mean "clientSecret"?`},
		{"clientSecert", `clientSecert is not a known option; ignored; did you mean "clientSecret"?`},
		{"scope", `scope is not a known option; ignored; did you mean "scopes"?`},
		{"modelsUrl", `modelsURL`}, // see below: exact message checked separately
		{"baseURL", `baseURL is not a known option; ignored; set provider.acme.options.baseURL instead`},
		{"name", `name is not a known option; ignored; set provider.acme.name instead`},
		{"somethingElse", `somethingElse is not a known option; ignored`},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			res := parseBlock(t, map[string]any{tc.key: canary}) // the value is never shown
			p := problemAt(t, res, block+"."+tc.key)
			assert.Equal(t, SeverityWarning, p.Severity)
			assert.Equal(t, `"`+tc.key+`"`, p.Found)
			if tc.key == "modelsUrl" {
				assert.Equal(t, `ignored; did you mean "modelsURL"?`, p.Hint)
			} else {
				assert.Equal(t, `provider "acme": provider.acme.options.oauth2.`+tc.msg, p.Message())
			}
			assert.Len(t, res.Providers, 1)
		})
	}
}

func TestSuggest(t *testing.T) {
	known := oauthKeys
	assert.Equal(t, "clientId", Suggest("client-id", known))
	assert.Equal(t, "issuer", Suggest("isuer", known))
	assert.Equal(t, "pkce", Suggest("pcke", known))
	assert.Equal(t, "", Suggest("pk", known))
	assert.Equal(t, "", Suggest("completelyDifferent", known))
	assert.Equal(t, "", Suggest(string(make([]byte, 100)), known))
}

// TestAuthFlowTypoIsReportedOnce: a mistyped authFlow gets its "did you
// mean" and nothing else that assumes some other flow (#17).
func TestAuthFlowTypoIsReportedOnce(t *testing.T) {
	for _, over := range []map[string]any{
		{"authFlow": "authorization_cod", "scopes": del},
		{"authFlow": "client-credentials"},
		{"authFlow": "jwtbearer", "subjectTokenSource": map[string]any{"type": "env", "var": "X"}, "tokenExchangeAudience": "x"},
		{"authFlow": "device", "redirectPort": 8080, "scopes": del},
		{"authFlow": "devicecode", "prompt": "login", "authorizationParams": map[string]any{"connector_id": "x"}},
	} {
		res := parseBlock(t, over)
		require.Len(t, res.Problems, 1, "%v", messages(res))
		assert.Contains(t, res.Problems[0].Message(), "authFlow must be one of")
		assert.Empty(t, res.Providers)
	}
}

// TestURLExamplesFitTheField: the example URL in a message is one the
// field could hold (a gateway URL for baseURL, not an issuer) (#17).
func TestURLExamplesFitTheField(t *testing.T) {
	res := parse(t, mustJSON(t, map[string]any{"provider": map[string]any{"acme": map[string]any{
		"options": map[string]any{"baseURL": "llm.acme.internal/v1", "oauth2": with(nil)},
	}}}))
	p := problemAt(t, res, "provider.acme.options.baseURL")
	assert.Contains(t, p.Message(), `like "https://llm.example.com/v1"`)
	assert.NotContains(t, p.Message(), "auth.example.com")
}
