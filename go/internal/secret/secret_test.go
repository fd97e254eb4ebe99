package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const canary = "canary-5f0c2a9e-very-secret"

func TestStringNeverPrintsValue(t *testing.T) {
	s := New(canary)
	type wrapper struct {
		Token  String
		Tokens []String
		Ptr    *String
	}
	w := wrapper{Token: s, Tokens: []String{s}, Ptr: &s}

	cases := []struct {
		name   string
		render func() string
	}{
		{"%s", func() string { return fmt.Sprintf("%s", s) }},
		{"%v", func() string { return fmt.Sprintf("%v", s) }},
		{"%+v", func() string { return fmt.Sprintf("%+v", s) }},
		{"%#v", func() string { return fmt.Sprintf("%#v", s) }},
		{"%q", func() string { return fmt.Sprintf("%q", s) }},
		{"%x", func() string { return fmt.Sprintf("%x", s) }},
		{"%d", func() string { return fmt.Sprintf("%d", s) }},
		{"struct %+v", func() string { return fmt.Sprintf("%+v", w) }},
		{"struct %#v", func() string { return fmt.Sprintf("%#v", w) }},
		{"error wrap", func() string { return fmt.Errorf("failed with %v", s).Error() }},
		{"json", func() string { b, err := json.Marshal(w); require.NoError(t, err); return string(b) }},
		{"slog json", func() string {
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "token", s, "w", w)
			return buf.String()
		}},
		{"slog text", func() string {
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "token", s, "w", w)
			return buf.String()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.render()
			assert.NotContains(t, out, canary)
			assert.Contains(t, out, Redacted)
		})
	}
}

func TestStringBasics(t *testing.T) {
	tests := []struct {
		name  string
		a, b  String
		equal bool
		zeroA bool
		strA  string
	}{
		{"same", New("x"), New("x"), true, false, Redacted},
		{"different", New("x"), New("y"), false, false, Redacted},
		{"empty", String{}, New(""), true, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.equal, tc.a.Equal(tc.b))
			assert.Equal(t, tc.zeroA, tc.a.IsZero())
			assert.Equal(t, tc.strA, tc.a.String())
		})
	}
	assert.Equal(t, canary, New(canary).Reveal())
}
