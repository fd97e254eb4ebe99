package config

import (
	"encoding/json"
	"fmt"
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
// schema property: its type, enum, minimum and maximum, whether the object
// requires it, and three keywords of this schema: "x-expected", the
// Expected of its problems (else worded from the type, "x-unit" and the
// bounds); "x-unit", what a number counts (a time unit makes it a
// duration); "x-clamp", an out-of-range number is clamped with a warning
// rather than refused.
type option struct {
	typ      string // "string", "boolean", "integer" or "number"
	enum     []string
	lo, hi   float64
	unit     string
	clamp    bool
	required bool
	expected string
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
		prop := schemaAt(props, key).(*jsontree.Object)
		o := option{required: slices.Contains(required, any(key))}
		for k, dst := range map[string]*string{"type": &o.typ, "x-unit": &o.unit, "x-expected": &o.expected} {
			if v, ok := prop.Get(k); ok {
				*dst, _ = v.(string)
			}
		}
		if o.typ != "string" && o.typ != "boolean" && o.typ != "integer" && o.typ != "number" {
			continue
		}
		if e, ok := prop.Get("enum"); ok {
			for _, v := range e.([]any) {
				o.enum = append(o.enum, v.(string))
			}
		}
		clamp, _ := prop.Get("x-clamp")
		o.clamp = clamp == true
		if o.typ == "integer" || o.typ == "number" {
			o.lo, o.hi = schemaNumber(prop, "minimum"), schemaNumber(prop, "maximum")
		}
		if o.expected == "" {
			o.expected = worded(o)
		}
		out[key] = o
	}
}

// worded is the Expected of a scalar option without x-expected.
func worded(o option) string {
	switch {
	case o.typ == "boolean":
		return "a boolean (true or false)"
	case o.enum != nil:
		return "one of " + quotedList(o.enum)
	case o.typ == "string":
		return "a non-empty string"
	}
	bounds := " in [" + formatFloat(o.lo) + ", " + formatFloat(o.hi) + "]"
	switch {
	case o.unit == "":
		return "an integer" + bounds
	case o.typ == "integer":
		return "an integer number of " + o.unit + bounds
	}
	return "a number of " + o.unit + bounds
}

func schemaNumber(prop *jsontree.Object, key string) float64 {
	f, _ := schemaAt(prop, key).(json.Number).Float64() // valid JSON: only an overflow fails (±Inf)
	return f
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
