package models

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPrototypeNamedModelsAreDropped: OpenCode keeps models in plain
// JavaScript objects; an id such as __proto__ or constructor made
// `opencode models` fail. Such ids are dropped and counted, the others kept.
func TestPrototypeNamedModelsAreDropped(t *testing.T) {
	body := `{"data":[{"id":"__proto__"},{"id":"constructor"},{"id":"toString"},{"id":"hasOwnProperty"},` +
		`{"id":"valueOf"},{"id":"__defineGetter__"},{"id":"isPrototypeOf"},{"id":"gpt-4o"},{"id":"Constructor"},{"id":"proto"},` +
		`{"id":"` + strings.Repeat("x", MaxIDLength+1) + `"},{"id":"` + strings.Repeat("y", MaxIDLength) + `"}]}`
	l, err := Parse([]byte(body))
	require.NoError(t, err)
	assert.Equal(t, []string{"gpt-4o", "Constructor", "proto", strings.Repeat("y", MaxIDLength)}, ids(l.Models))
	assert.Equal(t, 8, l.Unsafe, "prototype names and an id over MaxIDLength")
}

// TestTerminalEscapesFromTheGatewayAreRemoved: ids with control characters
// (an ESC sequence that rewrites the terminal, BEL, CR, NUL, line breaks,
// DEL, C1) or bidirectional overrides and isolates (which make a terminal
// show another text than the bytes) are dropped; what reaches display text
// (owned_by, names) is cleaned.
func TestTerminalEscapesFromTheGatewayAreRemoved(t *testing.T) {
	hostile := []string{
		"evil\x1b]0;pwned\x07", "\x1b[2J\x1b[Hclear", "bell\a", "cr\roverwrite", "nul\x00", "line\nbreak", "tab\tid", "del\x7f",
		"c1\u009b31m", "rlo\u202egpt", "lri\u2066x\u2069", "lrm\u200e", "alm\u061c", "ls\u2028",
	}
	var b strings.Builder
	b.WriteString(`[{"id":"ok-1","owned_by":"acme\u001b[31m\u202e"}`)
	for _, id := range hostile {
		b.WriteString(`,{"id":` + quote(id) + `}`)
	}
	b.WriteString(`,{"id":"ok-2"}]`)
	l, err := Parse([]byte(b.String()))
	require.NoError(t, err)
	assert.Equal(t, []string{"ok-1", "ok-2"}, ids(l.Models))
	assert.Equal(t, len(hostile), l.Unsafe)
	assert.Equal(t, "acme[31m", l.Models[0].OwnedBy)
	for _, id := range hostile {
		assert.True(t, Unsafe(id), "%q", id)
	}

	ms := []Model{{ID: "m"}, {ID: "n"}}
	Normalize(ms, map[string]string{"m": "Nice\x1b[2J Name\u202e", "n": "Plain"})
	assert.Equal(t, "Nice[2J Name", ms[0].Name)
	assert.Equal(t, "Plain", ms[1].Name)
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r < 0x20 || r == '"' || r == '\\' || r == 0x7f:
			b.WriteString(`\u00` + string("0123456789abcdef"[r>>4]) + string("0123456789abcdef"[r&15]))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func ids(ms []Model) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}
