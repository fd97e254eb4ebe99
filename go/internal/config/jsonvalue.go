package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds the nesting of the decoded config. OpenCode configs are a
// handful of levels deep; the bound keeps hostile input from recursing
// without limit.
const maxDepth = 512

// object is a decoded JSON object that remembers its key order, so that
// providers come out in the order the user wrote them ("config order").
// A duplicated key keeps its first position and its last value, as
// JavaScript's JSON.parse does.
type object struct {
	keys []string
	vals map[string]any
}

// get returns the value at key; ok is false when the key is absent.
func (o *object) get(key string) (any, bool) {
	v, ok := o.vals[key]
	return v, ok
}

// decodeObject decodes raw into the ordered value tree: nil, bool,
// json.Number, string, []any and *object. The top level must be an object.
func decodeObject(raw []byte) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		if len(bytes.TrimSpace(raw)) == 0 {
			return nil, errors.New("config is empty: expected a JSON object")
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("config is not valid JSON (near byte %d): %w", dec.InputOffset(), err)
	}
	obj, ok := v.(*object)
	if !ok {
		return nil, fmt.Errorf("config must be a JSON object, found %s", describe(v))
	}
	off := dec.InputOffset()
	rest := raw[off:]
	off += int64(len(rest) - len(bytes.TrimLeft(rest, " \t\r\n")))
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config is not valid JSON (near byte %d): unexpected data after the top-level object", off)
	}
	return obj, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth >= maxDepth {
			return nil, fmt.Errorf("nested deeper than %d levels", maxDepth)
		}
		if t == '{' {
			return decodeObjectBody(dec, depth+1)
		}
		return decodeArrayBody(dec, depth+1)
	default:
		return t, nil // nil, bool, json.Number or string
	}
}

func decodeObjectBody(dec *json.Decoder, depth int) (*object, error) {
	obj := &object{vals: map[string]any{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok { // unreachable with encoding/json, kept as a guard
			return nil, fmt.Errorf("object key is %T, not a string", tok)
		}
		v, err := decodeValue(dec, depth)
		if err != nil {
			return nil, err
		}
		if _, dup := obj.vals[key]; !dup {
			obj.keys = append(obj.keys, key)
		}
		obj.vals[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, err
	}
	return obj, nil
}

func decodeArrayBody(dec *json.Decoder, depth int) ([]any, error) {
	arr := []any{}
	for dec.More() {
		v, err := decodeValue(dec, depth)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, err
	}
	return arr, nil
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
	case *object:
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
	return truncate(b.String(), maxRender)
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
		b.WriteString(truncate(t.String(), maxRender))
	case string:
		b.WriteString(quote(t))
	case []any:
		if depth > 4 {
			b.WriteString("[…]")
			return
		}
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			if b.Len() > 4*maxRender {
				break
			}
			renderTo(b, e, depth+1)
		}
		b.WriteByte(']')
	case *object:
		if depth > 4 {
			b.WriteString("{…}")
			return
		}
		b.WriteByte('{')
		for i, k := range t.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if b.Len() > 4*maxRender {
				break
			}
			b.WriteString(quote(k))
			b.WriteByte(':')
			if looksSecret(k) {
				b.WriteString(`"…"`)
				continue
			}
			renderTo(b, t.vals[k], depth+1)
		}
		b.WriteByte('}')
	default:
		b.WriteString(describe(v))
	}
}

// quote renders s as a quoted, escaped, single-line string, bounded in size.
func quote(s string) string {
	return strconv.Quote(truncate(s, maxRender))
}

// truncate shortens s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	cut, count := 0, 0
	for i := range s {
		if count == n-1 {
			cut = i
			break
		}
		count++
	}
	return s[:cut] + "…"
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
// plugin's own option names are known not to, except clientSecret.
func looksSecret(key string) bool {
	if key != "clientSecret" && (contains(oauthKeys, key) || contains(notSecretKeys, key)) {
		return false
	}
	k := normalizeKey(key)
	for _, w := range []string{"secret", "password", "passwd", "token", "apikey", "assertion", "credential"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// notSecretKeys are the other keys this package reads; none holds a secret.
var notSecretKeys = []string{
	"id", "name", "baseURL", "type", "audience", "tokenPath", "path", "var",
	"servers", "httpTimeoutMs", "tokenExpirySkewMs", "cacheDir",
}

// normalizeKey lowercases key and drops '_' and '-', so that client_id,
// client-id and clientID all compare equal to clientId.
func normalizeKey(key string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '-' {
			return -1
		}
		return toLowerASCII(r)
	}, key)
}

func toLowerASCII(r rune) rune {
	if r >= 'A' && r <= 'Z' {
		return r + ('a' - 'A')
	}
	return r
}
