package config

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// schemaPath is docs/oauth2.schema.json, the JSON Schema editors use for
// the oauth2 block. The reader takes option names and enums from it
// (schema.go); these tests check the rest against the Go constants: bounds,
// defaults and the refused parameter names.
var schemaPath = filepath.Join("..", "..", "..", "docs", "oauth2.schema.json")

type jsonObj = map[string]any

func loadSchema(t *testing.T) jsonObj {
	t.Helper()
	raw, err := os.ReadFile(schemaPath)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var s jsonObj
	require.NoError(t, dec.Decode(&s), "%s is not valid JSON", schemaPath)
	require.False(t, dec.More(), "%s has data after the schema", schemaPath)
	return s
}

// at walks s along keys (object keys, or array indexes as ints).
func at(t *testing.T, s any, keys ...any) any {
	t.Helper()
	cur := s
	for i, k := range keys {
		switch key := k.(type) {
		case string:
			o, ok := cur.(jsonObj)
			require.True(t, ok, "schema path %v: not an object", keys[:i+1])
			cur, ok = o[key]
			require.True(t, ok, "schema path %v: missing", keys[:i+1])
		case int:
			a, ok := cur.([]any)
			require.True(t, ok && key < len(a), "schema path %v: not an array with that index", keys[:i+1])
			cur = a[key]
		}
	}
	return cur
}

func obj(t *testing.T, s any, keys ...any) jsonObj {
	t.Helper()
	o, ok := at(t, s, keys...).(jsonObj)
	require.True(t, ok, "schema path %v: not an object", keys)
	return o
}

func strs(t *testing.T, v any) []string {
	t.Helper()
	a, ok := v.([]any)
	require.True(t, ok, "not an array: %v", v)
	out := make([]string, len(a))
	for i, e := range a {
		s, ok := e.(string)
		require.True(t, ok, "not a string: %v", e)
		out[i] = s
	}
	return out
}

func keysOf(o jsonObj) []string {
	out := make([]string, 0, len(o))
	for k := range o {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sorted(list []string) []string {
	out := slices.Clone(list)
	slices.Sort(out)
	return out
}

func num(t *testing.T, o jsonObj, key string) int64 {
	t.Helper()
	n, ok := o[key].(json.Number)
	require.True(t, ok, "%s is not a number: %v", key, o[key])
	i, err := n.Int64()
	require.NoError(t, err, "%s is not an integer", key)
	return i
}

func TestSchemaIsDraft202012(t *testing.T) {
	s := loadSchema(t)
	assert.Equal(t, "https://json-schema.org/draft/2020-12/schema", s["$schema"])
	assert.Equal(t, "#/$defs/options", s["$ref"], "the root is the oauth2 block")
	assert.Equal(t, false, s["unevaluatedProperties"], "unknown keys are flagged, as the parser warns about them")
}

// TestSchemaConditionsNameOptions: the reader takes its option names from
// the schema (schema.go); every name the conditional rules mention is one.
func TestSchemaConditionsNameOptions(t *testing.T) {
	s := loadSchema(t)
	options := obj(t, s, "$defs", "options")
	assert.Equal(t, "#/$defs/options", at(t, s, "$defs", "serverEntry", "$ref"))
	assert.Equal(t, []string{"issuer", "clientId"}, strs(t, options["required"]))
	for i, c := range at(t, options, "allOf").([]any) {
		for _, branch := range []string{"if", "then", "else"} {
			b, ok := c.(jsonObj)[branch].(jsonObj)
			if !ok {
				continue
			}
			if p, ok := b["properties"].(jsonObj); ok {
				for k := range p {
					assert.Contains(t, oauthKeys, k, "allOf[%d].%s.properties", i, branch)
				}
			}
			if r, ok := b["required"]; ok {
				for _, k := range strs(t, r) {
					assert.Contains(t, oauthKeys, k, "allOf[%d].%s.required", i, branch)
				}
			}
		}
	}
}

// TestSchemaEnumsMatchConstants: the enumerations the reader takes from the
// schema are the values the Go constants name.
func TestSchemaEnumsMatchConstants(t *testing.T) {
	assert.Equal(t, []string{string(AuthorizationCode), string(DeviceCode), string(ClientCredentials), string(JWTBearer), string(TokenExchange)}, optionProps["authFlow"].Enum)
	assert.Equal(t, []string{AuthMethodPost, AuthMethodBasic, AuthMethodNone, AuthMethodPrivateKeyJWT}, optionProps["clientAuthMethod"].Enum)
	assert.Equal(t, []string{string(StorageFile), string(StorageKeyring), string(StorageAuto), string(StorageMemory)}, optionProps["tokenStorage"].Enum)
	assert.Equal(t, optionProps["tokenStorage"].Enum, settingsProps["tokenStorage"].Enum)
	assert.Equal(t, []string{SourceGitHubActions, SourceKubernetesSA, SourceFile, SourceEnv}, sourceTypes)
	assert.Equal(t, map[string]string{SourceGitHubActions: "audience", SourceKubernetesSA: "tokenPath", SourceFile: "path", SourceEnv: "var"}, sourceKey)
	assert.Equal(t, append([]string{"id", "name", "baseURL"}, oauthKeys...), serverKeys)
	assert.Contains(t, settingsKeys, "servers")
}

func TestSchemaEnumsMatchParser(t *testing.T) {
	s := loadSchema(t)
	props := obj(t, s, "$defs", "options", "properties")
	assert.Equal(t, string(AuthorizationCode), at(t, props, "authFlow", "default"))
	assert.Equal(t, true, at(t, props, "pkce", "default"))
	assert.Equal(t, false, at(t, props, "responseApi", "default"))
	assert.Equal(t, false, at(t, props, "allowInsecureHttp", "default"))
	assert.Equal(t, DefaultSubjectTokenType, at(t, props, "subjectTokenType", "default"))

	// The parameter maps refuse exactly the names the parser refuses.
	for _, key := range []string{"authorizationParams", "tokenParams"} {
		reserved := slices.Sorted(maps.Keys(reservedParams))
		assert.Equal(t, reserved, strs(t, at(t, props, key, "propertyNames", "not", "enum")), key)
	}

	// Both token sources (subjectTokenSource, clientAssertionSource) are
	// $defs.tokenSource: one branch per source type, each with `type` and
	// exactly the one key that type takes.
	for _, key := range []string{"subjectTokenSource", "clientAssertionSource"} {
		assert.Equal(t, "#/$defs/tokenSource", at(t, props, key, "$ref"), key)
	}
	branches := at(t, s, "$defs", "tokenSource", "oneOf").([]any)
	var types []string
	for i := range branches {
		b := obj(t, branches, i)
		typ, ok := at(t, b, "properties", "type", "const").(string)
		require.True(t, ok, "subjectTokenSource.oneOf[%d] has no type const", i)
		types = append(types, typ)
		assert.Equal(t, sorted([]string{"type", sourceKey[typ]}), keysOf(obj(t, b, "properties")), "source %s", typ)
		assert.Equal(t, false, b["additionalProperties"], "source %s", typ)
		required := strs(t, b["required"])
		assert.Contains(t, required, "type")
		if typ == SourceKubernetesSA {
			assert.NotContains(t, required, "tokenPath", "tokenPath has a default")
			assert.Equal(t, DefaultKubernetesTokenPath, at(t, b, "properties", "tokenPath", "default"))
		} else {
			assert.Contains(t, required, sourceKey[typ], "source %s", typ)
		}
	}
	assert.Equal(t, sourceTypes, types)
}

// TestSchemaDefaultsMatchParser: the defaults the reader applies are the Go
// constants other packages use too; the schema states the same.
func TestSchemaDefaultsMatchParser(t *testing.T) {
	s := loadSchema(t)
	props := obj(t, s, "$defs", "options", "properties")
	settings := obj(t, s, "$defs", "pluginConfig", "properties")
	ms := func(d time.Duration) int64 { return d.Milliseconds() }
	cases := []struct {
		where jsonObj
		key   string
		def   int64
	}{
		{props, "loginTimeoutSeconds", int64(DefaultLoginTimeout / time.Second)},
		{props, "syncIntervalMinutes", int64(DefaultSyncInterval / time.Minute)},
		{props, "maxModels", DefaultMaxModels},
		{props, "httpTimeoutMs", ms(DefaultHTTPTimeout)},
		{props, "tokenExpirySkewMs", ms(DefaultExpirySkew)},
		{settings, "httpTimeoutMs", ms(DefaultHTTPTimeout)},
		{settings, "tokenExpirySkewMs", ms(DefaultExpirySkew)},
	}
	for _, c := range cases {
		assert.Equal(t, c.def, num(t, obj(t, c.where, c.key), "default"), c.key)
	}
	assert.Equal(t, int64(DefaultMaxModels), num(t, obj(t, props, "maxModels"), "maximum"))
}

// TestSchemaOptions: how the reader reads each scalar option comes from its
// schema property; a number's Expected states its bounds.
func TestSchemaOptions(t *testing.T) {
	cases := []struct {
		key  string
		want option
	}{
		{"redirectPort", option{Type: "integer", Min: 1, Max: 65535, Expected: "an integer in [1, 65535]"}},
		{"loginTimeoutSeconds", option{Type: "integer", Min: 10, Max: 3600, Unit: "seconds", Clamp: true,
			Expected: "an integer number of seconds in [10, 3600]"}},
		{"pkce", option{Type: "boolean", Expected: "a boolean (true or false)"}},
		{"clientId", option{Type: "string", required: true, Expected: "a non-empty string (the OAuth client id)"}},
		{"tokenStorage", option{Type: "string", Enum: []string{"file", "keyring", "auto", "memory"}, Expected: `one of "file" | "keyring" | "auto" | "memory"`}},
	}
	for _, c := range cases {
		if c.want.Type != "integer" && c.want.Type != "number" { // no bounds: unbounded
			c.want.Min, c.want.Max = math.Inf(-1), math.Inf(1)
		}
		assert.Equal(t, c.want, optionProps[c.key], c.key)
	}
	for _, props := range []map[string]option{optionProps, serverProps, settingsProps} {
		for key, o := range props {
			if o.Type == "integer" || o.Type == "number" {
				assert.False(t, math.IsInf(o.Min, 0) || math.IsInf(o.Max, 0), "%s: the schema gives every number option a minimum and a maximum", key)
				assert.Contains(t, o.Expected, "["+formatFloat(o.Min)+", "+formatFloat(o.Max)+"]", key)
				assert.True(t, o.Unit == "" || o.Unit == "models" || units[o.Unit] > 0, key)
			}
		}
	}
	assert.True(t, serverProps["id"].required)
	assert.True(t, sourceProps[SourceFile]["path"].required)
	assert.False(t, sourceProps[SourceKubernetesSA]["tokenPath"].required)
}
