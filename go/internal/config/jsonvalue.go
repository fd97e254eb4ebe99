package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
)

// maxDepth bounds the nesting of the decoded config. OpenCode configs are a
// handful of levels deep; the bound keeps hostile input from recursing
// without limit.
const maxDepth = 512

// Decode reads OpenCode's configuration (the JSON object the config hook
// receives) into an ordered tree, so that providers come out in the order
// the user wrote them. The top level must be an object.
func Decode(raw []byte) (*jsontree.Object, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errors.New("config is empty: expected a JSON object")
	}
	v, err := jsontree.Decode(raw, maxDepth)
	if err != nil {
		se := err.(*jsontree.SyntaxError) // the only error jsontree.Decode returns
		msg := strings.Replace(se.Msg, "after the top-level value", "after the top-level object", 1)
		return nil, fmt.Errorf("config is not valid JSON (near byte %d): %s", se.Offset, msg)
	}
	obj, ok := v.(*jsontree.Object)
	if !ok {
		return nil, fmt.Errorf("config must be a JSON object, found %s", describe(v))
	}
	return obj, nil
}

// describe names the JSON type of v, for messages that must not show the
// value itself (clientSecret) or that talk about types.
func describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		switch {
		case t == "":
			return "an empty string"
		case strings.TrimSpace(t) == "":
			return "a string of only whitespace"
		}
		return "a string"
	case []any:
		return "an array"
	case *jsontree.Object:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

// maxRender is the length, in runes, of a rendered value (Problem.Found).
const maxRender = 60

// render is a short, single-line, JSON-like rendering of v, truncated to
// about maxRender runes. Inside objects, values under keys that look like
// credentials are replaced, so a misplaced secret is not echoed back.
func render(v any) string {
	var b strings.Builder
	renderTo(&b, v, 0)
	return redact.Truncate(b.String(), maxRender)
}

func renderTo(b *strings.Builder, v any, depth int) {
	if b.Len() > 4*maxRender { // enough to fill the truncated output
		return
	}
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case json.Number:
		b.WriteString(redact.Truncate(t.String(), maxRender))
	case string:
		b.WriteString(quote(t))
	case []any:
		renderList(b, "[", "]", len(t), depth, func(i int) { renderTo(b, t[i], depth+1) })
	case *jsontree.Object:
		keys := t.Keys()
		renderList(b, "{", "}", len(keys), depth, func(i int) {
			b.WriteString(quote(keys[i]) + ":")
			if looksSecret(keys[i]) {
				b.WriteString(`"…"`)
				return
			}
			v, _ := t.Get(keys[i])
			renderTo(b, v, depth+1)
		})
	default:
		b.WriteString(describe(v))
	}
}

// renderList renders n items between open and close, or only "…" between
// them deeper than 4 levels, stopping once there is enough to fill the truncated
// output.
func renderList(b *strings.Builder, open, close string, n, depth int, item func(int)) {
	if depth > 4 {
		b.WriteString(open + "…" + close)
		return
	}
	b.WriteString(open)
	for i := 0; i < n && b.Len() <= 4*maxRender; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		item(i)
	}
	b.WriteString(close)
}

// quote renders s as a quoted, escaped, single-line string, bounded in size.
func quote(s string) string {
	return strconv.Quote(redact.Truncate(s, maxRender))
}

// renderAt renders the value v found under key, or only its type when the
// key looks like it names a credential.
func renderAt(key string, v any) string {
	if looksSecret(key) {
		return describe(v)
	}
	return render(v)
}

// looksSecret reports whether an object key may name a credential. The
// plugin's own option names (the schema's) are known not to, except
// clientSecret.
func looksSecret(key string) bool {
	if key != "clientSecret" && (key == "type" || slices.Contains(serverKeys, key) || slices.Contains(settingsKeys, key) ||
		slices.Contains(slices.Collect(maps.Values(sourceKey)), key)) {
		return false
	}
	k := normalizeKey(key)
	return slices.ContainsFunc([]string{"secret", "password", "passwd", "token", "apikey", "assertion", "credential"},
		func(w string) bool { return strings.Contains(k, w) })
}

// normalizeKey lowercases key and drops '_' and '-', so that client_id,
// client-id and clientID all compare equal to clientId.
func normalizeKey(key string) string {
	return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(key))
}
