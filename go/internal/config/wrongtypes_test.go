package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// jsonKinds are one value of each JSON type, by the schema's type names.
var jsonKinds = []struct {
	kind  string
	value any
}{
	{"boolean", true},
	{"number", 7.5},
	{"integer", 7},
	{"string", "x"},
	{"array", []any{"x"}},
	{"object", map[string]any{"x": "y"}},
}

// allowedKinds are the JSON types docs/oauth2.schema.json allows for a
// property (its type, or the types of its oneOf/anyOf branches).
func allowedKinds(t *testing.T, prop jsonObj) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	add := func(v any) {
		switch ty := v.(type) {
		case string:
			out[ty] = true
		case []any:
			for _, e := range ty {
				out[e.(string)] = true
			}
		}
	}
	add(prop["type"])
	for _, key := range []string{"oneOf", "anyOf"} {
		if branches, ok := prop[key].([]any); ok {
			for _, b := range branches {
				add(b.(jsonObj)["type"])
			}
		}
	}
	if out["number"] {
		out["integer"] = true
	}
	return out
}

// TestEveryOptionRefusesEveryWrongType: for every option of the oauth2 block
// and of pluginConfig.oauth2ModelSync that docs/oauth2.schema.json declares,
// and every JSON type the schema does not allow for it, Parse reports a
// problem on exactly that field (never a panic, never silence), with the
// invariants of checkInvariants. FuzzParse explores the rest.
func TestEveryOptionRefusesEveryWrongType(t *testing.T) {
	s := loadSchema(t)
	options := obj(t, s, "$defs", "options", "properties")
	settings := obj(t, s, "$defs", "pluginConfig", "properties")
	tested := 0
	for _, key := range sorted(keysOf(options)) {
		allowed := allowedKinds(t, obj(t, options, key))
		for _, k := range jsonKinds {
			if allowed[k.kind] || (k.kind == "integer" && allowed["number"]) {
				continue
			}
			tested++
			t.Run(fmt.Sprintf("oauth2.%s=%s", key, k.kind), func(t *testing.T) {
				res := parseBlock(t, map[string]any{key: k.value})
				assertProblemAt(t, res, block+"."+key)
			})
		}
	}
	for _, key := range sorted(keysOf(settings)) {
		allowed := allowedKinds(t, obj(t, settings, key))
		if len(allowed) == 0 {
			continue // legacy keys of any type: a warning that they are unused (TestSettingsProblemsAreWarnings)
		}
		for _, k := range jsonKinds {
			if allowed[k.kind] || (k.kind == "integer" && allowed["number"]) {
				continue
			}
			tested++
			t.Run(fmt.Sprintf("oauth2ModelSync.%s=%s", key, k.kind), func(t *testing.T) {
				raw := mustJSON(t, map[string]any{"pluginConfig": map[string]any{"oauth2ModelSync": map[string]any{key: k.value}}})
				assertProblemAt(t, parse(t, raw), "pluginConfig.oauth2ModelSync."+key)
			})
		}
	}
	assert.Greater(t, tested, 100, "the schema was read")
}

// assertProblemAt requires a problem on field or on one of its elements.
func assertProblemAt(t *testing.T, res Result, field string) {
	t.Helper()
	for _, p := range res.Problems {
		if p.Field == field || strings.HasPrefix(p.Field, field+".") || strings.HasPrefix(p.Field, field+"[") {
			return
		}
	}
	assert.Failf(t, "wrong type accepted silently", "no problem at %s; got %v", field, messages(res))
}
