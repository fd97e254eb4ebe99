package config

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
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
		typ := schemaAt(b, "properties", "type", "const").(string)
		types = append(types, typ)
		props[typ] = map[string]option{}
		addProps(props[typ], b.(*jsontree.Object))
		for k := range props[typ] {
			keys[typ] = k
		}
	}
	return types, keys, props
}

// reader reads typed fields out of one JSON object and reports what is
// wrong with them. Missing or null keys are "not set" everywhere.
type reader struct {
	id   string           // provider id for problems ("" when unknown)
	path string           // field path of the object
	obj  *jsontree.Object // never nil
	sev  Severity
	out  *sink
	// props are the scalar options of the object (value, set); nil for
	// objects read key by key.
	props map[string]option
}

func (r *reader) field(key string) string { return JoinPath(r.path, key) }

// report adds a problem about key with the reader's severity.
func (r *reader) report(key, expected, found, hint string) {
	r.reportAt(r.field(key), r.sev, expected, found, hint)
}

// warn adds a warning about key.
func (r *reader) warn(key, expected, found, hint string) {
	r.reportAt(r.field(key), SeverityWarning, expected, found, hint)
}

// reportAt adds a problem about the field at path, e.g. an array element.
func (r *reader) reportAt(path string, sev Severity, expected, found, hint string) {
	r.out.add(Problem{ProviderID: r.id, Field: path, Expected: expected, Found: found, Severity: sev, Hint: hint})
}

// lookup returns the value at key; ok is false when it is absent or null.
func (r *reader) lookup(key string) (any, bool) {
	v, ok := r.obj.Get(key)
	return v, ok && v != nil
}

// child returns a reader for the object at key, or nil when the key is not
// set or not an object (reported with expected).
func (r *reader) child(key, expected string) *reader {
	v, ok := r.lookup(key)
	if !ok {
		return nil
	}
	o, isObj := v.(*jsontree.Object)
	if !isObj {
		r.report(key, expected, renderAt(key, v), "")
		return nil
	}
	return &reader{id: r.id, path: r.field(key), obj: o, sev: r.sev, out: r.out}
}

// value reads the scalar option key as o says (see option): a string is
// trimmed and, when o has an enum, one of it; a number lies in [Min, Max] or,
// when o clamps, is clamped with a warning. A required option that is
// missing, or a required string that is blank, is reported; an optional
// blank string is ignored with a warning. Wrong values are reported with
// the reader's severity. It returns a string, a bool or a float64.
func (r *reader) value(key string, o option) (any, bool) {
	v, ok := r.lookup(key)
	if !ok {
		if o.required {
			r.report(key, o.Expected, "", "")
		}
		return nil, false
	}
	hint := ""
	switch t := v.(type) {
	case bool:
		if o.Type == "boolean" {
			return t, true
		}
	case json.Number:
		if o.Type == "integer" || o.Type == "number" {
			return r.number(key, t, o)
		}
	case string:
		s := strings.TrimSpace(t)
		switch {
		case o.Type != "string":
		case o.Enum != nil && slices.Contains(o.Enum, s):
			return s, true
		case o.Enum != nil:
			if g := Suggest(s, o.Enum); g != "" {
				hint = "did you mean " + strconv.Quote(g) + "?"
			}
		case s != "":
			return s, true
		case !o.required:
			r.warn(key, o.Expected, renderAt(key, v), "ignored")
			return nil, false
		}
	}
	r.report(key, o.Expected, renderAt(key, v), hint)
	return nil, false
}

// number checks the JSON number n against o's type and bounds: an
// integer must be one exactly (isInteger); an out-of-range value is
// refused, or clamped with a warning when o clamps. A number too large for
// a float64 is infinite, beyond every bound.
func (r *reader) number(key string, n json.Number, o option) (any, bool) {
	f, _ := strconv.ParseFloat(n.String(), 64) // the JSON syntax is valid
	if o.Type == "integer" && (!isInteger(n) || (!o.Clamp && (f < o.Min || f > o.Max))) {
		r.report(key, o.Expected, renderAt(key, n), "")
		return nil, false
	}
	if c := min(max(f, o.Min), o.Max); c != f {
		r.warn(key, o.Expected, renderAt(key, n), "using "+formatFloat(c))
		return c, true
	}
	return f, true
}

// set reads the scalar option key of the reader's props (see value) into
// dst: a *string, *Flow, *Storage, *bool, *int, or *time.Duration for a
// number whose x-unit is a time unit. It leaves dst alone and returns
// false when the option is not set or not usable.
func (r *reader) set(key string, dst any) bool {
	o, known := r.props[key]
	if !known { // the code and the embedded schema disagree: every test fails
		panic("docs/oauth2.schema.json has no scalar option " + key)
	}
	v, ok := r.value(key, o)
	if !ok {
		return false
	}
	switch d := dst.(type) {
	case *string:
		*d = v.(string)
	case *Flow:
		*d = Flow(v.(string))
	case *Storage:
		*d = Storage(v.(string))
	case *bool:
		*d = v.(bool)
	case *int:
		*d = int(v.(float64))
	case *time.Duration:
		*d = time.Duration(math.Round(v.(float64) * float64(units[o.Unit])))
	}
	return true
}

// field is a scalar option and where set stores it.
type field struct {
	key string
	dst any
}

// setEach sets each field in turn (see set).
func (r *reader) setEach(fields ...field) {
	for _, f := range fields {
		r.set(f.key, f.dst)
	}
}

// each calls f with the path and value of the string at key, or of each
// element of the array there; anything else is reported with expected, and
// then each returns false.
func (r *reader) each(key, expected string, f func(path string, e any)) bool {
	v, ok := r.lookup(key)
	switch t := v.(type) {
	case string:
		f(r.field(key), t)
	case []any:
		for i, e := range t {
			f(IndexPath(r.field(key), i), e)
		}
	default:
		if ok {
			r.report(key, expected, render(v), "")
			return false
		}
	}
	return true
}

// unusedBy warns, when key is set, that flow does not use it (only the
// flows named by using do) and reports whether it was set. An unknown flow
// ("", a typo reported already) says nothing about what is used.
func (r *reader) unusedBy(flow Flow, key, using string) bool {
	v, ok := r.lookup(key)
	if ok && flow != "" {
		r.warn(key, "unset unless authFlow is "+using, render(v), "ignored because authFlow is "+strconv.Quote(string(flow)))
	}
	return ok
}

// unknownKeys warns about every key not in known, in document order,
// suggesting the closest known name.
func (r *reader) unknownKeys(known []string, hints map[string]string) {
	for _, k := range r.obj.Keys() {
		if slices.Contains(known, k) {
			continue
		}
		hint := "ignored"
		if h, ok := hints[k]; ok {
			hint = h
		} else if g := Suggest(k, known); g != "" {
			hint = "ignored; did you mean " + strconv.Quote(g) + "?"
		}
		r.warn(k, expectedKnownOption, quote(k), hint)
	}
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// isInteger reports exactly whether the JSON number n is an integer:
// 1e3 and 8080.000 are, 8080.0000000000000001 is not (a float64 would
// round it to one).
func isInteger(n json.Number) bool {
	s := strings.TrimPrefix(strings.ToLower(n.String()), "-")
	mant, exp, hasExp := strings.Cut(s, "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	sig := strings.TrimRight(intPart+frac, "0")
	e, err := strconv.Atoi(exp)
	switch {
	case sig == "": // zero
		return true
	case !hasExp:
		e = 0
	case err != nil: // an exponent beyond int: never taken for an integer
		return false
	case e > len(s) || e < -len(s): // more than the digits can make up
		return e > 0
	}
	// n is sig × 10^(e − len(frac) + the zeros trimmed from its end).
	return e-len(frac)+len(intPart+frac)-len(sig) >= 0
}
