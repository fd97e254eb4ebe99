package config

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
	"github.com/vymalo/opencode-oauth2/go/internal/redact"
)

// Message renders the problem as one readable line, e.g.
//
//	provider "acme": provider.acme.options.oauth2.redirectPort must be an integer in [1, 65535], found "abc"
//
// A problem with an empty Found is about a missing value, and one about an
// unknown key says so:
//
//	provider "acme": provider.acme.options.oauth2.issuer is missing: expected an absolute https URL
//	provider "acme": provider.acme.options.oauth2.clientID is not a known option; ignored; did you mean "clientId"?
func (p Problem) Message() string {
	msg := ""
	if p.ProviderID != "" {
		msg = "provider " + strconv.Quote(p.ProviderID) + ": "
	}
	msg += cmp.Or(p.Field, "config")
	switch {
	case p.Expected == expectedKnownOption:
		msg += " is not a known option"
	case p.Found == "" && p.Expected == "":
		msg += " is invalid"
	case p.Found == "":
		msg += " is missing: expected " + p.Expected
	case p.Expected == "":
		msg += " is invalid, found " + p.Found
	default:
		msg += " must be " + p.Expected + ", found " + p.Found
	}
	if p.Hint != "" {
		msg += "; " + p.Hint
	}
	return msg
}

// Error implements error with Message, so a Problem can be returned or
// wrapped where an error is expected.
func (p Problem) Error() string { return p.Message() }

// expectedKnownOption is the Expected of a problem about an unknown key;
// Message words it as "<field> is not a known option".
const expectedKnownOption = "a known option name"

// sink collects problems in the order they are found.
type sink struct {
	list []Problem
}

func (s *sink) add(p Problem) { s.list = append(s.list, p) }

// hasError reports whether any problem from index from on is an error.
func (s *sink) hasError(from int) bool {
	return slices.ContainsFunc(s.list[from:], func(p Problem) bool { return p.Severity == SeverityError })
}

// JoinPath appends an object key to a field path: `a.b` for plain keys,
// `a["odd key"]` for keys that would be ambiguous after a dot.
func JoinPath(base, key string) string {
	if key != "" && len(key) <= maxRender && strings.Trim(key, alphanumeric+"_-") == "" {
		if base == "" {
			return key
		}
		return base + "." + key
	}
	return base + "[" + quote(key) + "]"
}

// IndexPath appends an array index to a field path.
func IndexPath(base string, i int) string {
	return base + "[" + strconv.Itoa(i) + "]"
}

// alphanumeric are the ASCII letters and digits.
const alphanumeric = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// Suggest returns the known name closest to key when it is close enough to
// be a likely typo (same letters ignoring case, '_' and '-', or an edit
// distance of at most 2), else "": the "did you mean" of config keys, also
// used by the command line for commands, flags and provider ids.
func Suggest(key string, known []string) string {
	if len(key) > 64 {
		return ""
	}
	nk := normalizeKey(key)
	best, bestDist := "", 3
	for _, name := range known {
		nn := normalizeKey(name)
		if nk == nn {
			return name
		}
		// At most 2 edits (bestDist starts at 3), 1 for names of 4 bytes or fewer.
		if d := editDistance(nk, nn); d < bestDist && (d <= 1 || len(nn) > 4) {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance between a and b,
// in bytes: insertions, deletions, substitutions and transpositions of two
// adjacent bytes ("pcke" → "pkce") each cost 1.
func editDistance(a, b string) int {
	rows := make([][]int, len(a)+1)
	for i := range rows {
		rows[i] = make([]int, len(b)+1)
		for j := range rows[i] {
			if i == 0 || j == 0 {
				rows[i][j] = i + j // from or to the empty string
				continue
			}
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			rows[i][j] = min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				rows[i][j] = min(rows[i][j], rows[i-2][j-2]+1)
			}
		}
	}
	return rows[len(a)][len(b)]
}

// quotedList renders names as `"a" | "b" | "c"`; the names are the
// schema's enumerations, which need no escaping.
func quotedList(names []string) string {
	return `"` + strings.Join(names, `" | "`) + `"`
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
	}
	return "an object" // a *jsontree.Object: the tree holds nothing else
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
			v, _ := t.Get(keys[i])
			if looksSecret(keys[i]) {
				v = "…" // shown as "…", never the value
			}
			b.WriteString(quote(keys[i]) + ":")
			renderTo(b, v, depth+1)
		})
	} // a tree holds nothing else
}

// renderList renders n items between open and close, or only "…" between
// them deeper than 4 levels, stopping once there is enough to fill the
// truncated output (a value then written still ends in it: the output is
// bounded, and its first maxRender runes are settled).
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
