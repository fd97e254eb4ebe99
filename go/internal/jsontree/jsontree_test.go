package jsontree

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeRoundTrip(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"keys keep document order", `{"b":1,"a":{"d":2,"c":3}}`, `{"b":1,"a":{"d":2,"c":3}}`},
		{"repeated key keeps first place, last value", `{"a":1,"b":2,"a":3}`, `{"a":3,"b":2}`},
		{"numbers keep their text", `{"n":1.50,"m":10000000000000000001}`, `{"n":1.50,"m":10000000000000000001}`},
		{"no HTML escaping", `{"s":"<&>"}`, `{"s":"<&>"}`},
		{"arrays and scalars", ` [true, null, "x", [], {}] `, `[true,null,"x",[],{}]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Decode([]byte(tc.in), 10)
			require.NoError(t, err)
			got, err := Marshal(v)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name, in, msg string
		off           int64
	}{
		{"data after the value", `{} {}`, "unexpected data after the top-level value", 3},
		{"truncated", `{"a":`, "unexpected EOF", 5},
		{"too deep", `[[[1]]]`, "nested deeper than 2 levels", 3},
		{"syntax", `{"a" 1}`, "invalid character", 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode([]byte(tc.in), 2)
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			assert.Contains(t, se.Msg, tc.msg)
			assert.Equal(t, tc.off, se.Offset)
		})
	}
}

func TestObjectCloneIsIndependent(t *testing.T) {
	o := NewObject()
	o.Set("a", 1)
	c := o.Clone()
	c.Set("b", 2)
	c.Set("a", 3)
	assert.Equal(t, []string{"a"}, o.Keys())
	v, _ := o.Get("a")
	assert.Equal(t, 1, v)
	assert.Equal(t, []string{"a", "b"}, c.Keys())
	assert.Equal(t, 2, c.Len())
}

func TestPlain(t *testing.T) {
	v, err := Decode([]byte(`{"p":{"x":[{"y":1}]}}`), 10)
	require.NoError(t, err)
	want := map[string]any{"p": map[string]any{"x": []any{map[string]any{"y": json.Number("1")}}}}
	assert.Equal(t, want, Plain(v))
}

func TestDecodeDeepInputDoesNotRecurseWithoutBound(t *testing.T) {
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	_, err := Decode([]byte(deep), 512)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nested deeper than 512 levels")
}
