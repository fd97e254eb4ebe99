package configfile

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
)

func TestParseDocReadsJSONC(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string // compact JSON of the document; "" = an error
	}{
		{"plain JSON", `{"a":[1,2,{"b":null}]}`, `{"a":[1,2,{"b":null}]}`},
		{"line comment", "{\n  // a comment\n  \"a\": 1 // trailing\n}", `{"a":1}`},
		{"line comment with CRLF", "{\r\n// c\r\n\"a\": 1\r\n}", `{"a":1}`},
		{"line comment at end of input", "{\"a\": 1}\n// bye", `{"a":1}`},
		{"block comment", "{/* one */\"a\"/* two\nlines */: 1}", `{"a":1}`},
		{"block comment with stars", "{/*** x **/\"a\": 1}", `{"a":1}`},
		{"comment markers inside strings", `{"u": "http://x.test/*y*/", "v": "// no"}`, `{"u":"http://x.test/*y*/","v":"// no"}`},
		{"escaped quote in string", `{"a": "say \"//hi\" /*", "b": 2}`, `{"a":"say \"//hi\" /*","b":2}`},
		{"escaped backslash before quote", `{"a": "c:\\", "b": "//"}`, `{"a":"c:\\","b":"//"}`},
		{"trailing comma in object", `{"a": 1,}`, `{"a":1}`},
		{"trailing comma in array", `{"a": [1, 2, ],}`, `{"a":[1,2]}`},
		{"trailing comma before comment", "{\"a\": 1, // c\n /* d */ }", `{"a":1}`},
		{"nested trailing commas", `{"a": {"b": [ {"c": 1,}, ],},}`, `{"a":{"b":[{"c":1}]}}`},
		{"comma in a string is kept", `{"a": ",}"}`, `{"a":",}"}`},
		{"byte order mark", "\xEF\xBB\xBF{\"a\": 1}", `{"a":1}`},
		{"non-ASCII in comment", "{/* café ☕ */\"a\": \"ü\"}", `{"a":"ü"}`},
		{"keys keep document order", `{"b":1,"a":2}`, `{"b":1,"a":2}`},
		{"empty array with comma", `{"a": [,]}`, ""},
		{"double comma", `{"a": 1,,}`, ""},
		{"comma after opener", `{,"a": 1}`, ""},
		{"comma after colon", `{"a": ,}`, ""},
		{"unterminated string", "{\"a\": \"x\n}", ""},
		{"single slash", `{"a": 1 / 2}`, ""},
		{"unterminated block comment", "{\n  /* never closed\n}", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseDoc([]byte(tc.in))
			if tc.want == "" {
				require.Error(t, err)
				assert.Regexp(t, `^line \d+, column \d+: `, err.Error(), "errors point at the source")
				return
			}
			require.NoError(t, err)
			got, err := jsontree.Marshal(o)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))
		})
	}
}

func TestParseDocErrorsPointAtTheSource(t *testing.T) {
	cases := []struct {
		name, in, msg string
	}{
		{"missing value", "{\n  // c\n  \"a\": ,\n}", "line 3, column 8"},
		{"unterminated block comment", "{\n  /* never closed\n}", "line 2, column 3"},
		{"two documents", `{} {}`, "line 1, column 4"},
		{"truncated", `{"a": {`, "unexpected EOF"},
		{"top level array", `[1]`, "not a JSON object"},
		{"top level string", `"x"`, "not a JSON object"},
		{"byte order mark keeps columns", "\xEF\xBB\xBF{,}", "line 1, column 5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseDoc([]byte(tc.in))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestParseDocEmptyIsEmptyObject(t *testing.T) {
	for _, in := range []string{"", "  \n", "// only a comment\n", "// no line break", "/* x */", "\xEF\xBB\xBF"} {
		o, err := parseDoc([]byte(in))
		require.NoError(t, err, "%q", in)
		assert.Zero(t, o.Len())
	}
}

func TestParseDocAgreesWithEncodingJSON(t *testing.T) {
	in := `{"a":1.50,"b":[true,null,"x"],"c":{"d":"<&>"}}`
	o, err := parseDoc([]byte(in))
	require.NoError(t, err)
	var want any
	require.NoError(t, json.Unmarshal([]byte(in), &want))
	js, err := jsontree.Marshal(o)
	require.NoError(t, err)
	var got any
	require.NoError(t, json.Unmarshal(js, &got))
	assert.Equal(t, want, got)
}
