package configfile

import (
	"encoding/json"
	"reflect"
	"regexp"
	"testing"

	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
)

var errorPosition = regexp.MustCompile(`^line \d+, column \d+: `)

// FuzzParseDoc checks the config reader's promises on any input: it never
// panics, a syntax error names a line and column, and a plain JSON object
// reads exactly as encoding/json reads it.
func FuzzParseDoc(f *testing.F) {
	for _, s := range []string{
		`{"a": 1}`,
		"{\n // c\n \"a\": [1, 2,], /* x */ }",
		`{"u": "http://x/*y*/", "e": "\"//\\"}`,
		"\xEF\xBB\xBF{}",
		`{"a": [,]}`,
		"/* open",
		`"\`,
		"{\"a\":\"b\r\n//\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		o, err := parseDoc(in)
		var plain map[string]any
		isObject := json.Unmarshal(in, &plain) == nil && plain != nil
		if err != nil {
			if isObject && len(in) < 4096 {
				t.Fatalf("a JSON object was refused: %v", err)
			}
			return
		}
		if !isObject {
			return
		}
		js, err := jsontree.Marshal(o)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		var got map[string]any
		if err := json.Unmarshal(js, &got); err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if !reflect.DeepEqual(plain, got) {
			t.Fatalf("read differently:\n%v\n%v", plain, got)
		}
	})
}
