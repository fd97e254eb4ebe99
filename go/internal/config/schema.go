package config

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/vymalo/opencode-oauth2/docs"
	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
)

// The options are those of docs/oauth2.schema.json, the one definition of
// the configuration: a name it lists is an option (any other key is an
// unknown-key warning with a did-you-mean), and a scalar option (a string,
// boolean or number) is read as its property says (see option). The schema
// is embedded and read once; nothing here changes afterwards, and a schema
// without the shape read here fails every test.
var (
	schemaRoot = mustDecodeSchema()
	// optionProps are the options of an oauth2 block (shape 1); serverProps
	// add those only a pluginConfig server entry has (shape 2).
	optionProps   = schemaProps("options")
	serverProps   = schemaProps("serverEntry", "options")
	settingsProps = schemaProps("pluginConfig") // of pluginConfig.oauth2ModelSync
	// oauthKeys, serverKeys and settingsKeys are their names, in
	// document order.
	oauthKeys    = schemaKeys("options")
	serverKeys   = slices.Concat(schemaKeys("serverEntry"), oauthKeys)
	settingsKeys = schemaKeys("pluginConfig")
	// sourceTypes are the token source types; sourceKey is the one key
	// besides type that each takes, sourceProps its option.
	sourceTypes, sourceKey, sourceProps = schemaSources()
)

// option is how the reader reads one scalar option (reader.value), from its
// schema property: its type, enum, minimum and maximum (unbounded when
// absent), whether the object requires it, and three keywords of this
// schema: "x-expected", the Expected of its problems (else worded from the
// type, "x-unit" and the bounds); "x-unit", what a number counts (a time
// unit makes it a duration); "x-clamp", an out-of-range number is clamped
// with a warning rather than refused.
type option struct {
	Type     string   `json:"type"` // "string", "boolean", "integer" or "number"
	Enum     []string `json:"enum"`
	Min      float64  `json:"minimum"`
	Max      float64  `json:"maximum"`
	Unit     string   `json:"x-unit"`
	Clamp    bool     `json:"x-clamp"`
	Expected string   `json:"x-expected"`
	required bool
}

// units are the x-unit values that make a number a duration.
var units = map[string]time.Duration{"milliseconds": time.Millisecond, "seconds": time.Second, "minutes": time.Minute}

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

// schemaProps reads the scalar options of the $defs named.
func schemaProps(defs ...string) map[string]option {
	out := map[string]option{}
	for _, def := range defs {
		addProps(out, schemaAt(schemaRoot, "$defs", def).(*jsontree.Object))
	}
	return out
}

// addProps adds the scalar options of the object schema def to out.
func addProps(out map[string]option, def *jsontree.Object) {
	r, _ := def.Get("required")
	required, _ := r.([]any)
	props := schemaAt(def, "properties").(*jsontree.Object)
	for _, key := range props.Keys() {
		o := option{Min: math.Inf(-1), Max: math.Inf(1), required: slices.Contains(required, any(key))}
		js, _ := jsontree.Marshal(schemaAt(props, key))
		if err := json.Unmarshal(js, &o); err != nil {
			panic(fmt.Sprintf("docs/oauth2.schema.json: %s: %v", key, err))
		}
		if o.Type != "string" && o.Type != "boolean" && o.Type != "integer" && o.Type != "number" {
			continue
		}
		o.Expected = cmp.Or(o.Expected, worded(o))
		out[key] = o
	}
}

// worded is the Expected of a scalar option without x-expected.
func worded(o option) string {
	switch {
	case o.Type == "boolean":
		return "a boolean (true or false)"
	case o.Enum != nil:
		return "one of " + quotedList(o.Enum)
	case o.Type == "string":
		return "a non-empty string"
	}
	bounds := " in [" + formatFloat(o.Min) + ", " + formatFloat(o.Max) + "]"
	switch {
	case o.Unit == "":
		return "an integer" + bounds
	case o.Type == "integer":
		return "an integer number of " + o.Unit + bounds
	}
	return "a number of " + o.Unit + bounds
}

// schemaSources reads the branches of $defs.tokenSource: the source types,
// the one key besides type each takes, and that key's option.
func schemaSources() (types []string, keys map[string]string, props map[string]map[string]option) {
	keys, props = map[string]string{}, map[string]map[string]option{}
	for _, b := range schemaAt(schemaRoot, "$defs", "tokenSource", "oneOf").([]any) {
		branch := b.(*jsontree.Object)
		typ := schemaAt(branch, "properties", "type", "const").(string)
		types = append(types, typ)
		props[typ] = map[string]option{}
		addProps(props[typ], branch)
		for k := range props[typ] {
			keys[typ] = k
		}
	}
	return types, keys, props
}
