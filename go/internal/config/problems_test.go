package config

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/vymalo/opencode-oauth2/go/internal/jsontree"
)

func TestMessageShapes(t *testing.T) {
	cases := []struct {
		p    Problem
		want string
	}{
		{Problem{ProviderID: "acme", Field: "a.b", Expected: "an integer", Found: `"x"`}, `provider "acme": a.b must be an integer, found "x"`},
		{Problem{Field: "a.b", Expected: "an integer"}, `a.b is missing: expected an integer`},
		{Problem{Field: "a.b", Found: "5"}, `a.b is invalid, found 5`},
		{Problem{Field: "a.b"}, `a.b is invalid`},
		{Problem{Expected: "x", Found: "y", Hint: "h"}, `config must be x, found y; h`},
		{Problem{ProviderID: "a\nb", Field: "f", Expected: expectedKnownOption, Found: `"f"`, Hint: "ignored"}, `provider "a\nb": f is not a known option; ignored`},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, tc.p.Message())
		assert.Equal(t, tc.want, tc.p.Error())
	}
}

func TestRender(t *testing.T) {
	long := strings.Repeat("é", 200)
	cases := []struct {
		in   any
		want string
	}{
		{nil, "null"},
		{true, "true"},
		{"a\"b\n", `"a\"b\n"`},
		{"\u2028", `"\u2028"`},
		{[]any{}, "[]"},
		{jsontree.NewObject(), "{}"},
		{[]any{[]any{[]any{[]any{[]any{[]any{1}}}}}}, "[[[[[[…]]]]]]"},
		{objectOf("apiKey", "k", "n", json.Number("1")), `{"apiKey":"…","n":1}`},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, render(tc.in))
	}
	r := render(long)
	assert.Equal(t, maxRender, utf8.RuneCountInString(r))
	assert.True(t, strings.HasSuffix(r, "…"))
	assert.True(t, utf8.ValidString(r))
	big := make([]any, 1000)
	for i := range big {
		big[i] = long
	}
	assert.Equal(t, maxRender, utf8.RuneCountInString(render(big)))
}

func TestDescribe(t *testing.T) {
	assert.Equal(t, "null", describe(nil))
	assert.Equal(t, "a boolean", describe(false))
	assert.Equal(t, "a string", describe("x"))
	assert.Equal(t, "an empty string", describe(""))
	assert.Equal(t, "a string of only whitespace", describe(" \t"))
	assert.Equal(t, "an array", describe([]any{}))
	assert.Equal(t, "an object", describe(jsontree.NewObject()))
}

func TestLooksSecret(t *testing.T) {
	for _, k := range []string{"clientSecret", "client_secret", "password", "apiKey", "api-key", "accessToken", "token", "credentials"} {
		assert.True(t, looksSecret(k), k)
	}
	for _, k := range []string{"tokenEndpoint", "tokenExpirySkewMs", "subjectTokenSource", "tokenPath", "tokenExchangeAudience", "issuer", "clientId"} {
		assert.False(t, looksSecret(k), k)
	}
}

func TestPaths(t *testing.T) {
	assert.Equal(t, "provider.my-gw_1", JoinPath("provider", "my-gw_1"))
	assert.Equal(t, `provider["a.b"]`, JoinPath("provider", "a.b"))
	assert.Equal(t, `provider[""]`, JoinPath("provider", ""))
	assert.Equal(t, `provider["x\n"]`, JoinPath("provider", "x\n"))
	long := strings.Repeat("a", 100)
	assert.Equal(t, `provider["`+strings.Repeat("a", maxRender-1)+`…"]`, JoinPath("provider", long))
	assert.Equal(t, "servers[3]", IndexPath("servers", 3))
}

// objectOf builds an ordered object from key, value pairs.
func objectOf(kv ...any) *jsontree.Object {
	o := jsontree.NewObject()
	for i := 0; i+1 < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1])
	}
	return o
}
