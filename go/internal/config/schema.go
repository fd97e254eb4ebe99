package config

import (
	"fmt"

	"github.com/vymalo/opencode-oauth2/docs"
	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
)

// The option names and enumerations are those of docs/oauth2.schema.json,
// the one definition of the configuration: a name it lists is an option
// (any other key is an unknown-key warning with a did-you-mean), an
// enumeration it lists is what the reader accepts. The schema is embedded,
// so a schema without the shape read here fails every test.
var (
	schemaRoot = mustDecodeSchema()
	// oauthKeys are the options of an oauth2 block (shape 1) and, with
	// serverOnlyKeys, of a pluginConfig server entry (shape 2).
	oauthKeys      = schemaKeys("options")
	serverOnlyKeys = schemaKeys("serverEntry")
	settingsKeys   = schemaKeys("pluginConfig") // of pluginConfig.oauth2ModelSync
	flows          = schemaEnum("authFlow")
	authMethods    = schemaEnum("clientAuthMethod")
	assertionAlgs  = schemaEnum("clientAssertionAlg") // the JWS algorithms of a private_key_jwt key
	// Storages are the values of tokenStorage.
	Storages = schemaEnum("tokenStorage")
	// sourceTypes are the token source types; sourceKey is the one key
	// besides type that each takes.
	sourceTypes, sourceKey = schemaSources()
)

func mustDecodeSchema() *jsontree.Object {
	v, err := jsontree.Decode([]byte(docs.OAuth2Schema), 64)
	if err != nil {
		panic(fmt.Sprintf("docs/oauth2.schema.json: %v", err))
	}
	return v.(*jsontree.Object)
}

// schemaAt walks v along object keys; the schema is embedded, so a missing
// key is a mistake in the build, reported by a panic.
func schemaAt(v any, keys ...string) any {
	for i, k := range keys {
		o, ok := v.(*jsontree.Object)
		if ok {
			v, ok = o.Get(k)
		}
		if !ok {
			panic(fmt.Sprintf("docs/oauth2.schema.json: no %v", keys[:i+1]))
		}
	}
	return v
}

// schemaKeys lists the properties of $defs.<def>, in document order.
func schemaKeys(def string) []string {
	return schemaAt(schemaRoot, "$defs", def, "properties").(*jsontree.Object).Keys()
}

// schemaEnum is the enum of the oauth2 option prop.
func schemaEnum(prop string) []string {
	var out []string
	for _, e := range schemaAt(schemaRoot, "$defs", "options", "properties", prop, "enum").([]any) {
		out = append(out, e.(string))
	}
	return out
}

// schemaSources reads the branches of $defs.tokenSource.
func schemaSources() (types []string, keys map[string]string) {
	keys = map[string]string{}
	for _, b := range schemaAt(schemaRoot, "$defs", "tokenSource", "oneOf").([]any) {
		props := schemaAt(b, "properties").(*jsontree.Object)
		typ := schemaAt(props, "type", "const").(string)
		types = append(types, typ)
		for _, k := range props.Keys() {
			if k != "type" {
				keys[typ] = k
			}
		}
	}
	return types, keys
}
