package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRejectsNonObjects(t *testing.T) {
	cases := map[string]string{
		"":      "parse OpenCode config: config is empty: expected a JSON object",
		"  \n":  "parse OpenCode config: config is empty: expected a JSON object",
		"null":  "parse OpenCode config: config must be a JSON object, found null",
		"[]":    "parse OpenCode config: config must be a JSON object, found an array",
		`"x"`:   "parse OpenCode config: config must be a JSON object, found a string",
		"5":     "parse OpenCode config: config must be a JSON object, found a number",
		"{} {}": "parse OpenCode config: config is not valid JSON (near byte 3): unexpected data after the top-level object",
		`{"a":`: "parse OpenCode config: config is not valid JSON (near byte 5): unexpected EOF",
	}
	for in, want := range cases {
		res, err := Parse([]byte(in))
		require.Error(t, err, in)
		assert.Equal(t, want, err.Error(), in)
		assert.Equal(t, Result{}, res)
	}
	// Syntax errors carry encoding/json's wording and a position.
	for _, in := range []string{`{"a" 1}`, "{'a': 1}", "\xff", `{"a":[1,]}`, `{"a":1,}`} {
		_, err := Parse([]byte(in))
		require.Error(t, err, in)
		assert.Contains(t, err.Error(), "parse OpenCode config: config is not valid JSON (near byte ", in)
		assert.Contains(t, err.Error(), "invalid character", in)
	}
}

func TestParseTooDeep(t *testing.T) {
	raw := []byte(`{"a":` + string(repeat('[', maxDepth+1)) + string(repeat(']', maxDepth+1)) + `}`)
	_, err := Parse(raw)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nested deeper than 512 levels")
}

func repeat(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

func TestNoManagedProviders(t *testing.T) {
	res := parse(t, []byte(`{"provider":{"plain":{"options":{"baseURL":"https://x","apiKey":"k"}}},"model":"x/y"}`))
	assert.Empty(t, res.Providers)
	assert.Empty(t, res.Problems)
	assert.Equal(t, Settings{HTTPTimeout: DefaultHTTPTimeout, ExpirySkew: DefaultExpirySkew}, res.Settings)
}

func TestShape2ServerEntry(t *testing.T) {
	res := parse(t, []byte(`{"pluginConfig":{"oauth2ModelSync":{"servers":[{
		"id":" gw ","name":"Gateway","baseURL":"https://gw.example.com/v1",
		"issuer":"https://idp.example.com","clientId":"c","clientSecret":"`+canary+`",
		"scopes":"openid","authFlow":"client_credentials","syncIntervalMinutes":15}]}}}`))
	assert.Empty(t, res.Problems)
	p := only(t, res)
	assert.Equal(t, "gw", p.ID)
	assert.Equal(t, "Gateway", p.Name)
	assert.Equal(t, "https://gw.example.com/v1", p.BaseURL)
	assert.Equal(t, "pluginConfig.oauth2ModelSync.servers[0]", p.Origin)
	assert.Equal(t, ClientCredentials, p.Flow)
	assert.Equal(t, canary, p.ClientSecret.Reveal())
	assert.Equal(t, 15*time.Minute, p.SyncInterval)
}

func TestShape2Problems(t *testing.T) {
	res := parse(t, []byte(`{"pluginConfig":{"oauth2ModelSync":{"servers":[
		5,
		{"name":"no id","clientSecret":"`+canary+`"},
		{"id":"a","baseURL":"https://a.example.com","issuer":"https://idp.example.com","clientId":"c","scopes":"x","redirectPort":"not-a-number","clientID":"x"},
		{"id":"b","issuer":"https://idp.example.com","clientId":"c","scopes":"x","name":7},
		{"id":"ok","baseURL":"https://ok.example.com","issuer":"https://idp.example.com","clientId":"c","scopes":"x"}
	]}}}`))
	assert.Equal(t, []string{"ok"}, ids(res))
	assert.Equal(t, []string{
		`error: pluginConfig.oauth2ModelSync.servers[0] must be an object like {"id": "...", "baseURL": "...", "issuer": "...", "clientId": "..."}, found 5`,
		`error: pluginConfig.oauth2ModelSync.servers[1].id is missing: expected a non-empty string (the OpenCode provider id)`,
		`error: provider "a": pluginConfig.oauth2ModelSync.servers[2].redirectPort must be an integer in [1, 65535], found "not-a-number"`,
		`warning: provider "a": pluginConfig.oauth2ModelSync.servers[2].clientID is not a known option; ignored; did you mean "clientId"?`,
		`warning: provider "b": pluginConfig.oauth2ModelSync.servers[3].name must be a non-empty string (the display name), found 7`,
		`error: provider "b": pluginConfig.oauth2ModelSync.servers[3].baseURL is missing: expected an absolute https URL of the OpenAI-compatible API, like "https://llm.example.com/v1"`,
	}, messages(res))
}

func TestDuplicateServerIDs(t *testing.T) {
	srv := `{"id":"a","baseURL":"https://a.example.com","issuer":"https://idp.example.com","clientId":"c","scopes":"x"}`
	res := parse(t, []byte(`{"pluginConfig":{"oauth2ModelSync":{"servers":[`+srv+`,`+srv+`]}}}`))
	assert.Empty(t, res.Providers)
	assert.Equal(t, []string{
		`error: provider "a": pluginConfig.oauth2ModelSync.servers[1].id must be an id not used by another server entry, found "a"; also used by pluginConfig.oauth2ModelSync.servers[0]; the provider is skipped`,
	}, messages(res))
}

func TestBothShapesPrecedence(t *testing.T) {
	raw := []byte(`{
	  "pluginConfig":{"oauth2ModelSync":{"servers":[{"id":"acme","name":"Server name","baseURL":"https://server.example.com/v1",
	     "issuer":"https://server-idp.example.com","clientId":"server-client","scopes":"server","authFlow":"device_code","redirectPort":"ignored"}]}},
	  "provider":{"acme":{"options":{"baseURL":"https://provider.example.com/v1",
	     "oauth2":{"issuer":"https://idp.example.com","clientId":"provider-client","scopes":["openid"]}}}}}`)
	res := parse(t, raw)
	p := only(t, res)
	assert.Equal(t, "provider-client", p.ClientID, "the provider block wins for OAuth options")
	assert.Equal(t, "https://idp.example.com", p.Issuer)
	assert.Equal(t, AuthorizationCode, p.Flow, "no field-level merge with the server entry")
	assert.Equal(t, []string{"openid"}, p.Scopes)
	assert.Equal(t, "https://provider.example.com/v1", p.BaseURL, "the provider's own baseURL wins (E.21)")
	assert.Equal(t, "Server name", p.Name, "the server name is the fallback when the provider has none")
	assert.Equal(t, "provider.acme.options.oauth2", p.Origin)
	assert.Equal(t, []string{
		`warning: provider "acme": pluginConfig.oauth2ModelSync.servers[0].id must be an id not also configured by provider.acme.options.oauth2, found "acme"; provider.acme.options.oauth2 wins for the OAuth options; this entry only supplies baseURL and name when the provider entry lacks them`,
		`warning: provider "acme": pluginConfig.oauth2ModelSync.servers[0].baseURL must be the same as provider.acme.options.baseURL, found "https://server.example.com/v1"; provider.acme.options.baseURL wins`,
	}, messages(res))
}

// A provider entry whose oauth2 block is unusable still claims the id: the
// server entry's warning names where that block is.
func TestBothShapesBadProviderBlock(t *testing.T) {
	raw := []byte(`{
	  "pluginConfig":{"oauth2ModelSync":{"servers":[{"id":"acme","baseURL":"https://server.example.com/v1",
	     "issuer":"https://server-idp.example.com","clientId":"server-client","scopes":"server"}]}},
	  "provider":{"acme":{"options":{"oauth2ModelSync":5}}}}`)
	res := parse(t, raw)
	assert.Empty(t, res.Providers)
	assert.Equal(t, []string{
		`error: provider "acme": provider.acme.options.oauth2ModelSync must be an object with the oauth2 options (issuer, clientId, scopes, ...), found 5`,
		`warning: provider "acme": pluginConfig.oauth2ModelSync.servers[0].id must be an id not also configured by provider.acme.options.oauth2ModelSync, found "acme"; provider.acme.options.oauth2ModelSync wins for the OAuth options; this entry only supplies baseURL and name when the provider entry lacks them`,
	}, messages(res))
}

// Problems come provider entry by provider entry, in document order, also
// for entries that make no provider.
func TestProblemsInDocumentOrder(t *testing.T) {
	raw := []byte(`{"provider":{
	  "plain":{"options":5},
	  "acme":{"options":{"baseURL":"https://llm.example.com/v1","oauth2":{"issuer":"https://idp.example.com","clientId":"c","scopes":["openid"],"pkc":true}}},
	  "other":7}}`)
	res := parse(t, raw)
	only(t, res)
	assert.Equal(t, []string{
		`warning: provider "plain": provider.plain.options must be an object, found 5`,
		`warning: provider "acme": provider.acme.options.oauth2.pkc is not a known option; ignored; did you mean "pkce"?`,
		`warning: provider "other": provider.other must be an object, found 7; ignored`,
	}, messages(res))
}

func TestBothShapesServerSuppliesBaseURL(t *testing.T) {
	raw := []byte(`{
	  "pluginConfig":{"oauth2ModelSync":{"servers":[{"id":"acme","baseURL":"https://server.example.com/v1"}]}},
	  "provider":{"acme":{"name":"Acme","options":{"oauth2":{"issuer":"https://idp.example.com","clientId":"c","scopes":["openid"]}}}}}`)
	res := parse(t, raw)
	p := only(t, res)
	assert.Equal(t, "https://server.example.com/v1", p.BaseURL)
	assert.Equal(t, "Acme", p.Name)
	require.Len(t, res.Problems, 1) // only the "both configured" warning
	assert.Equal(t, "pluginConfig.oauth2ModelSync.servers[0].id", res.Problems[0].Field)
}

func TestBothShapesBrokenProviderBlockWins(t *testing.T) {
	raw := []byte(`{
	  "pluginConfig":{"oauth2ModelSync":{"servers":[{"id":"acme","baseURL":"https://s.example.com","issuer":"https://idp.example.com","clientId":"c","scopes":"x"}]}},
	  "provider":{"acme":{"options":{"oauth2":{"clientId":"c","scopes":["openid"]}}}}}`)
	res := parse(t, raw)
	assert.Empty(t, res.Providers, "the provider block wins even when it is broken: no silent fallback")
	assert.Equal(t, SeverityError, problemAt(t, res, "provider.acme.options.oauth2.issuer").Severity)
}

func TestServerEntryWithPlainProviderEntry(t *testing.T) {
	// The provider entry has no oauth2 block: the server entry is the OAuth
	// source, and the provider entry's name and baseURL still win.
	raw := []byte(`{
	  "pluginConfig":{"oauth2ModelSync":{"servers":[{"id":"acme","name":"S","baseURL":"https://server.example.com/v1","issuer":"https://idp.example.com","clientId":"c","scopes":"x"}]}},
	  "provider":{"acme":{"name":"P","options":{"baseURL":"https://provider.example.com/v1"},"models":{"m":{}}}}}`)
	res := parse(t, raw)
	p := only(t, res)
	assert.Equal(t, "P", p.Name)
	assert.Equal(t, "https://provider.example.com/v1", p.BaseURL)
	assert.Equal(t, "pluginConfig.oauth2ModelSync.servers[0]", p.Origin)
	assert.Equal(t, []string{
		`warning: provider "acme": pluginConfig.oauth2ModelSync.servers[0].baseURL must be the same as provider.acme.options.baseURL, found "https://server.example.com/v1"; provider.acme.options.baseURL wins`,
	}, messages(res))
}

func TestProviderOrderIsConfigOrder(t *testing.T) {
	blockJSON := `{"issuer":"https://idp.example.com","clientId":"c","scopes":"x"}`
	prov := func(id string) string {
		return `"` + id + `":{"options":{"baseURL":"https://` + id + `.example.com","oauth2":` + blockJSON + `}}`
	}
	srv := func(id string) string {
		return `{"id":"` + id + `","baseURL":"https://s.example.com","issuer":"https://idp.example.com","clientId":"c","scopes":"x"}`
	}
	raw := []byte(`{"provider":{` + prov("zeta") + `,` + prov("alpha") + `,` + prov("mid") + `},
	  "pluginConfig":{"oauth2ModelSync":{"servers":[` + srv("s2") + `,` + srv("mid") + `,` + srv("s1") + `]}}}`)
	for range 5 { // map iteration must not leak into the order
		res := parse(t, raw)
		assert.Equal(t, []string{"s2", "mid", "s1", "zeta", "alpha"}, ids(res))
	}
}

func ids(res Result) []string {
	var out []string
	for _, p := range res.Providers {
		out = append(out, p.ID)
	}
	return out
}

func TestOneBadProviderDoesNotRemoveOthers(t *testing.T) {
	good := `{"options":{"baseURL":"https://llm.example.com","oauth2":{"issuer":"https://idp.example.com","clientId":"c","scopes":"x","clientSecret":"` + canary + `"}}}`
	raw := []byte(`{"provider":{
	  "good1":` + good + `,
	  "noissuer":{"options":{"baseURL":"https://llm.example.com","oauth2":{"clientId":"c","scopes":"x","clientSecret":"` + canary + `"}}},
	  "nobase":{"options":{"oauth2":{"issuer":"https://idp.example.com","clientId":"c","scopes":"x"}}},
	  "notobject":{"options":{"baseURL":"https://llm.example.com","oauth2":"yes"}},
	  "array":{"options":{"baseURL":"https://llm.example.com","oauth2":[{"clientSecret":"` + canary + `"}]}},
	  "weird":7,
	  "weirdopts":{"options":[]},
	  "good2":` + good + `}}`)
	res := parse(t, raw)
	assert.Equal(t, []string{"good1", "good2"}, ids(res))
	assert.Equal(t, []string{
		`error: provider "noissuer": provider.noissuer.options.oauth2.issuer is missing: expected an absolute https URL (the authorization server's issuer)`,
		`error: provider "nobase": provider.nobase.options.baseURL is missing: expected an absolute https URL of the OpenAI-compatible API, like "https://llm.example.com/v1"`,
		`error: provider "notobject": provider.notobject.options.oauth2 must be an object with the oauth2 options (issuer, clientId, scopes, ...), found "yes"`,
		`error: provider "array": provider.array.options.oauth2 must be an object with the oauth2 options (issuer, clientId, scopes, ...), found [{"clientSecret":"…"}]`,
		`warning: provider "weird": provider.weird must be an object, found 7; ignored`,
		`warning: provider "weirdopts": provider.weirdopts.options must be an object, found []`,
	}, messages(res))
}

func TestAliasConflicts(t *testing.T) {
	b := `{"issuer":"https://idp.example.com","clientId":"c","scopes":"x"}`
	res := parse(t, []byte(`{"provider":{"a":{"options":{"baseURL":"https://a.example.com","oauth2":`+b+`,"oauth2ModelSync":{"clientSecret":"`+canary+`"}}},
	  "b":{"options":{"baseURL":"https://b.example.com","oauth2":true,"oauth2ModelSync":`+b+`}}}}`))
	assert.Equal(t, []string{"a", "b"}, ids(res))
	assert.Equal(t, "provider.b.options.oauth2ModelSync", res.Providers[1].Origin)
	assert.Equal(t, []string{
		`warning: provider "a": provider.a.options.oauth2ModelSync must be unset when options.oauth2 is set, found {"clientSecret":"…"}; ignored; options.oauth2 is used`,
		`warning: provider "b": provider.b.options.oauth2 must be an object with the oauth2 options (issuer, clientId, scopes, ...), found true; ignored; options.oauth2ModelSync is used`,
	}, messages(res))
}

func TestOddProviderIDsInPaths(t *testing.T) {
	raw := mustJSON(t, map[string]any{"provider": map[string]any{"my.odd id": map[string]any{
		"options": map[string]any{"baseURL": "https://llm.example.com", "oauth2": with(map[string]any{"redirectPort": -1})},
	}}})
	res := parse(t, raw)
	assert.Equal(t, `provider "my.odd id": provider["my.odd id"].options.oauth2.redirectPort must be an integer in [1, 65535], found -1`,
		res.Problems[0].Message())
}

func TestSettings(t *testing.T) {
	res := parse(t, []byte(`{"pluginConfig":{"oauth2ModelSync":{"httpTimeoutMs":5000,"tokenExpirySkewMs":60000,"cacheDir":"/var/cache/x/../oc"}}}`))
	assert.Empty(t, res.Problems)
	assert.Equal(t, Settings{HTTPTimeout: 5 * time.Second, ExpirySkew: time.Minute, CacheDir: "/var/cache/oc"}, res.Settings)
}

func TestSettingsAreInheritedAndOverridden(t *testing.T) {
	raw := []byte(`{"pluginConfig":{"oauth2ModelSync":{"httpTimeoutMs":5000,"tokenExpirySkewMs":60000}},
	  "provider":{
	    "inherit":{"options":{"baseURL":"https://a.example.com","oauth2":{"issuer":"https://idp.example.com","clientId":"c","scopes":"x"}}},
	    "own":{"options":{"baseURL":"https://a.example.com","oauth2":{"issuer":"https://idp.example.com","clientId":"c","scopes":"x","httpTimeoutMs":2000,"tokenExpirySkewMs":1000}}}}}`)
	res := parse(t, raw)
	require.Len(t, res.Providers, 2)
	assert.Equal(t, 5*time.Second, res.Providers[0].HTTPTimeout)
	assert.Equal(t, time.Minute, res.Providers[0].ExpirySkew)
	assert.Equal(t, 2*time.Second, res.Providers[1].HTTPTimeout)
	assert.Equal(t, time.Second, res.Providers[1].ExpirySkew)
}

func TestSettingsProblemsAreWarnings(t *testing.T) {
	res := parse(t, []byte(`{"pluginConfig":{"oauth2ModelSync":{"httpTimeoutMs":"5s","tokenExpirySkewMs":-1,"cacheDir":"relative/dir",
	  "cacheNamespace":"ns","logLevel":"debug","sevrers":[]}}}`))
	assert.Equal(t, Settings{HTTPTimeout: DefaultHTTPTimeout, ExpirySkew: 0}, res.Settings)
	assert.Equal(t, []string{
		`warning: pluginConfig.oauth2ModelSync.httpTimeoutMs must be an integer number of milliseconds in [100, 600000], found "5s"; ignored; using the default 15000`,
		`warning: pluginConfig.oauth2ModelSync.tokenExpirySkewMs must be an integer number of milliseconds in [0, 3600000], found -1; using 0`,
		`warning: pluginConfig.oauth2ModelSync.cacheDir must be an absolute directory path, found "relative/dir"; ignored; the user cache directory is used`,
		`warning: pluginConfig.oauth2ModelSync.cacheNamespace must be unset (the option is no longer used), found "ns"; set cacheDir to choose where tokens are cached`,
		`warning: pluginConfig.oauth2ModelSync.logLevel must be unset (the option is no longer used), found "debug"; the log level follows OpenCode's logLevel`,
		`warning: pluginConfig.oauth2ModelSync.sevrers is not a known option; ignored; did you mean "servers"?`,
	}, messages(res))
}

func TestWrongContainerTypes(t *testing.T) {
	cases := map[string]string{
		`{"provider":[1]}`:                                    `warning: provider must be an object mapping provider ids to provider entries, found [1]`,
		`{"pluginConfig":"x"}`:                                `warning: pluginConfig must be an object, found "x"`,
		`{"pluginConfig":{"oauth2ModelSync":[]}}`:             `error: pluginConfig.oauth2ModelSync must be an object like {"servers": [...]}, found []`,
		`{"pluginConfig":{"oauth2ModelSync":{"servers":{}}}}`: `error: pluginConfig.oauth2ModelSync.servers must be an array of server objects, found {}`,
	}
	for in, want := range cases {
		res := parse(t, []byte(in))
		assert.Equal(t, []string{want}, messages(res), in)
		assert.Empty(t, res.Providers)
	}
	// null anywhere means "not set".
	res := parse(t, []byte(`{"provider":null,"pluginConfig":{"oauth2ModelSync":{"servers":null,"cacheDir":null}}}`))
	assert.Empty(t, res.Problems)
}

func TestDuplicateJSONKeysLastValueWins(t *testing.T) {
	res := parse(t, []byte(`{"provider":{"a":{"options":{"baseURL":"https://a.example.com","oauth2":{"issuer":"https://idp.example.com","clientId":"first","clientId":"second","scopes":"x"}}}}}`))
	assert.Equal(t, "second", only(t, res).ClientID)
}

func TestProtocolExample(t *testing.T) {
	// The config of protocol/examples/config-apply.json.
	res := parse(t, []byte(`{"provider":{
	  "good":{"name":"Good Gateway","options":{"baseURL":"http://127.0.0.1:9/v1",
	    "oauth2":{"issuer":"http://127.0.0.1:9","clientId":"cli","clientSecret":"s3cr3t-value","scopes":["openid"],"authFlow":"client_credentials","tokenEndpoint":"http://127.0.0.1:9/token"}},
	    "models":{"m1":{"name":"My Model"}}},
	  "broken":{"options":{"baseURL":"http://127.0.0.1:9/v1","oauth2":{"issuer":"http://127.0.0.1:9","clientId":"cli","scopes":["openid"],"redirectPort":"not-a-port"}}},
	  "plain":{"options":{"baseURL":"https://example.invalid/v1","apiKey":"k"}}}}`))
	assert.Equal(t, []string{"good"}, ids(res))
	assert.Equal(t, "Good Gateway", res.Providers[0].Name)
	require.Len(t, res.Problems, 1)
	assert.Equal(t, Problem{ProviderID: "broken", Field: "provider.broken.options.oauth2.redirectPort",
		Expected: "an integer in [1, 65535]", Found: `"not-a-port"`, Severity: SeverityError}, res.Problems[0])
}

func TestBlankBaseURL(t *testing.T) {
	b := `{"issuer":"https://idp.example.com","clientId":"c","scopes":"x"}`
	res := parse(t, []byte(`{"provider":{"a":{"options":{"baseURL":" ","oauth2":`+b+`}}}}`))
	assert.Equal(t, []string{
		`error: provider "a": provider.a.options.baseURL must be an absolute https URL of the OpenAI-compatible API, like "https://llm.example.com/v1", found " "`,
	}, messages(res))

	res = parse(t, []byte(`{"pluginConfig":{"oauth2ModelSync":{"servers":[{"id":"a","baseURL":"","issuer":"https://idp.example.com","clientId":"c","scopes":"x"}]}}}`))
	assert.Equal(t, []string{
		`error: provider "a": pluginConfig.oauth2ModelSync.servers[0].baseURL must be an absolute https URL of the OpenAI-compatible API, like "https://llm.example.com/v1", found ""`,
	}, messages(res))

	// The provider's own baseURL makes a bad server baseURL harmless.
	res = parse(t, []byte(`{"pluginConfig":{"oauth2ModelSync":{"servers":[{"id":"a","baseURL":5}]}},
	  "provider":{"a":{"options":{"baseURL":"https://a.example.com","oauth2":`+b+`}}}}`))
	assert.Equal(t, []string{"a"}, ids(res))
	assert.Equal(t, SeverityWarning, problemAt(t, res, "pluginConfig.oauth2ModelSync.servers[0].baseURL").Severity)
}
