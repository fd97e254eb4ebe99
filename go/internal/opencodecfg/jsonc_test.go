package opencodecfg

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestToJSON(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string // compact JSON of the parsed output; "" = not valid JSON
	}{
		{"plain JSON is unchanged", `{"a":[1,2,{"b":null}]}`, `{"a":[1,2,{"b":null}]}`},
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
		{"empty array with comma stays invalid", `{"a": [,]}`, ""},
		{"double comma stays invalid", `{"a": 1,,}`, ""},
		{"comma after opener stays invalid", `{,"a": 1}`, ""},
		{"comma after colon stays invalid", `{"a": ,}`, ""},
		{"unterminated string stays invalid", "{\"a\": \"x\n}", ""},
		{"single slash stays invalid", `{"a": 1 / 2}`, ""},
		{"non-ASCII in comment", "{/* café ☕ */\"a\": \"ü\"}", `{"a":"ü"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := ToJSON([]byte(tc.in))
			require.NoError(t, err)
			assert.Len(t, out, len(tc.in), "offsets are preserved")
			if tc.want == "" {
				assert.False(t, json.Valid(out), "%q", out)
				return
			}
			require.True(t, json.Valid(out), "%q", out)
			var got any
			require.NoError(t, json.Unmarshal(out, &got))
			compact, err := json.Marshal(got)
			require.NoError(t, err)
			var want any
			require.NoError(t, json.Unmarshal([]byte(tc.want), &want))
			wantCompact, _ := json.Marshal(want)
			assert.Equal(t, string(wantCompact), string(compact))
		})
	}
}

func TestToJSONErrors(t *testing.T) {
	cases := []struct {
		name, in, msg string
	}{
		{"unterminated block comment", "{\n  /* never closed\n}", "line 2, column 3: block comment is not closed"},
		{"star slash split at end", "{} /* *", "line 1, column 4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ToJSON([]byte(tc.in))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestToJSONKeepsLineBreaks(t *testing.T) {
	in := "{\n/* a\nb\r\nc */\n\"k\": 1}"
	out, err := ToJSON([]byte(in))
	require.NoError(t, err)
	for i := range in {
		if in[i] == '\n' || in[i] == '\r' {
			assert.Equal(t, in[i], out[i], "byte %d", i)
		}
	}
}

func TestLineCol(t *testing.T) {
	src := []byte("ab\ncd\r\nef\rg")
	cases := []struct{ off, line, col int }{
		{0, 1, 1}, {2, 1, 3}, {3, 2, 1}, {4, 2, 2}, {7, 3, 1}, {10, 4, 1}, {100, 4, 2},
	}
	for _, tc := range cases {
		line, col := LineCol(src, tc.off)
		assert.Equal(t, [2]int{tc.line, tc.col}, [2]int{line, col}, "offset %d", tc.off)
	}
}

func TestParseDocErrorsPointAtTheSource(t *testing.T) {
	cases := []struct {
		name, in, msg string
	}{
		{"missing value", "{\n  // c\n  \"a\": ,\n}", "line 3"},
		{"top level array", `[1]`, "not a JSON object"},
		{"top level string", `"x"`, "not a JSON object"},
		{"two documents", `{} {}`, "unexpected content"},
		{"truncated", `{"a": {`, "unexpected end"},
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
	for _, in := range []string{"", "  \n", "// only a comment\n", "/* x */"} {
		o, err := parseDoc([]byte(in))
		require.NoError(t, err, "%q", in)
		assert.Empty(t, o.keys)
	}
}
