package configfile

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
)

func mustDoc(t *testing.T, s string) *jsontree.Object {
	t.Helper()
	o, err := parseDoc([]byte(s))
	require.NoError(t, err)
	return o
}

func encodeString(t *testing.T, v any) string {
	t.Helper()
	js, err := jsontree.Marshal(v)
	require.NoError(t, err)
	return string(js)
}

func TestMergeLayer(t *testing.T) {
	cases := []struct {
		name, dst, src, want string
	}{
		{"disjoint keys keep order", `{"b":1,"a":2}`, `{"c":3}`, `{"b":1,"a":2,"c":3}`},
		{"later wins for scalars", `{"a":1,"b":2}`, `{"a":9}`, `{"a":9,"b":2}`},
		{"objects merge deeply",
			`{"provider":{"gw":{"name":"GW","options":{"baseURL":"u1","oauth2":{"issuer":"i1","clientId":"c1"}}}}}`,
			`{"provider":{"gw":{"options":{"oauth2":{"clientId":"c2"}}},"other":{}}}`,
			`{"provider":{"gw":{"name":"GW","options":{"baseURL":"u1","oauth2":{"issuer":"i1","clientId":"c2"}}},"other":{}}}`},
		{"arrays are replaced", `{"x":{"scopes":["a","b"]}}`, `{"x":{"scopes":["c"]}}`, `{"x":{"scopes":["c"]}}`},
		{"object replaced by scalar", `{"a":{"b":1}}`, `{"a":null}`, `{"a":null}`},
		{"scalar replaced by object", `{"a":1}`, `{"a":{"b":1}}`, `{"a":{"b":1}}`},
		{"plugin lists concatenate", `{"plugin":["a","b"]}`, `{"plugin":["b","c"]}`, `{"plugin":["a","b","c"]}`},
		{"instructions concatenate", `{"instructions":["x.md"]}`, `{"instructions":["y.md","x.md"]}`, `{"instructions":["x.md","y.md"]}`},
		{"nested plugin keys are ordinary", `{"a":{"plugin":["x"]}}`, `{"a":{"plugin":["y"]}}`, `{"a":{"plugin":["y"]}}`},
		{"numbers keep their text", `{"n":1.50}`, `{"m":10000000000000000001}`, `{"n":1.50,"m":10000000000000000001}`},
		{"repeated key keeps first place, last value", `{"a":1,"b":2,"a":3}`, `{}`, `{"a":3,"b":2}`},
		{"strings are not HTML-escaped", `{}`, `{"s":"<&>"}`, `{"s":"<&>"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst, src := mustDoc(t, tc.dst), mustDoc(t, tc.src)
			dstBefore, srcBefore := encodeString(t, dst), encodeString(t, src)
			got := mergeLayer(dst, src)
			assert.Equal(t, tc.want, encodeString(t, got))
			assert.Equal(t, dstBefore, encodeString(t, dst), "dst is not modified")
			assert.Equal(t, srcBefore, encodeString(t, src), "src is not modified")
		})
	}
}

func TestDecodeDepthIsBounded(t *testing.T) {
	deep := append(bytes.Repeat([]byte(`{"a":`), maxDepth+10), '1')
	deep = append(deep, bytes.Repeat([]byte(`}`), maxDepth+10)...)
	_, err := parseDoc(deep)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nested deeper")

	// Two million brackets (a 2 MB config) are refused before the recursive
	// JSONC parser sees them; brackets in strings and comments do not count.
	_, err = parseDoc(append([]byte(`{"a":`), bytes.Repeat([]byte("["), 2_000_000)...))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nested deeper than 256 levels")
	obj, err := parseDoc([]byte("{\"s\": \"" + strings.Repeat("[", 1000) + "\", // " + strings.Repeat("{", 1000) + "\n /* " + strings.Repeat("[", 1000) + " */ \"t\": [[1]]}"))
	require.NoError(t, err)
	assert.Equal(t, []string{"s", "t"}, obj.Keys())
}
