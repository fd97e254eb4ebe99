package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPluginSpecReadsEveryEntryShape(t *testing.T) {
	tests := []struct {
		name  string
		entry any
		want  string
	}{
		{"a name", "@vymalo/opencode-oauth2", "@vymalo/opencode-oauth2"},
		{"an OpenCode 1 tuple", []any{"@vymalo/opencode-oauth2@1", map[string]any{}}, "@vymalo/opencode-oauth2@1"},
		{"an OpenCode 2 object", map[string]any{"package": "/src/opencode-oauth2", "options": map[string]any{}}, "/src/opencode-oauth2"},
		{"an empty tuple", []any{}, ""},
		{"a number", 3.0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, pluginSpec(tc.entry)) })
	}
}

func TestLastStartIsTheNewestStartLine(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "sidecar.log")
	require.NoError(t, os.WriteFile(log+".1", []byte(`{"time":"2026-12-01T10:00:00Z","msg":"sidecar started","host_version":"1.18.33"}`+"\n"), 0o600))
	_, _, ok := lastStart("")
	assert.False(t, ok, "no log file")
	host, _, ok := lastStart(log)
	require.True(t, ok, "the rotated file is read when the current one has no start")
	assert.Equal(t, "1.18.33", host)
	require.NoError(t, os.WriteFile(log, []byte("not json\n"+
		`{"time":"2026-12-07T10:00:00Z","msg":"sidecar started","host_version":"2.1.2"}`+"\n"+
		`{"time":"2026-12-07T10:00:01Z","msg":"location opened"}`+"\n"+
		`{"time":"2026-12-07T11:00:00Z","msg":"sidecar started","host_version":"2.1.2\u001b[31m"}`+"\n"), 0o600))
	host, at, ok := lastStart(log)
	require.True(t, ok)
	assert.Equal(t, 11, at.UTC().Hour(), "the newest start")
	assert.NotContains(t, host, "\x1b", "made safe for a terminal")
}
