package opencodecfg

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzToJSON checks the converter's promises on any input: it never
// panics, keeps the length and every line break, leaves valid JSON
// untouched, and only ever removes bytes (replaces them with spaces).
// parseDoc must not panic on its output either.
func FuzzToJSON(f *testing.F) {
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
		out, err := ToJSON(in)
		if err != nil {
			if !bytes.Contains(in, []byte("/*")) {
				t.Fatalf("error without a block comment: %v", err)
			}
			return
		}
		if len(out) != len(in) {
			t.Fatalf("length changed: %d -> %d", len(in), len(out))
		}
		for i := range in {
			if out[i] != in[i] && out[i] != ' ' {
				t.Fatalf("byte %d changed to %q, not to a space", i, out[i])
			}
			if (in[i] == '\n' || in[i] == '\r') && out[i] != in[i] {
				t.Fatalf("line break at %d removed", i)
			}
		}
		if json.Valid(in) && !bytes.HasPrefix(in, []byte("\xEF\xBB\xBF")) && !bytes.Equal(in, out) {
			t.Fatalf("valid JSON changed:\n%q\n%q", in, out)
		}
		// Converting twice changes nothing more.
		again, err := ToJSON(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %v\n%q\n%q", err, out, again)
		}
		_, _ = parseDoc(in)
	})
}
