package service

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
)

// TestHostVersion: OpenCode's version for the log is the shim's word, else
// OPENCODE_VERSION, else the opencode npm package beside the host's
// executable; nothing else is taken for it.
func TestHostVersion(t *testing.T) {
	dir := t.TempDir()
	install := func(name, pkg string) string {
		bin := filepath.Join(dir, name, "bin")
		require.NoError(t, os.MkdirAll(bin, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name, "package.json"), []byte(pkg), 0o600))
		return filepath.Join(bin, "opencode")
	}
	opencode := install("opencode-ai", `{"name":"opencode-ai","version":"1.18.33"}`)
	node := install("node", `{"name":"node","version":"22.0.0"}`)
	broken := install("broken", `{"name":`)
	for _, tc := range []struct {
		name string
		p    protocol.InitializeParams
		env  map[string]string
		want string
	}{
		{"the shim's word", protocol.InitializeParams{HostVersion: "2.1.2", HostPath: opencode}, map[string]string{"OPENCODE_VERSION": "9"}, "2.1.2"},
		{"OPENCODE_VERSION", protocol.InitializeParams{HostPath: opencode}, map[string]string{"OPENCODE_VERSION": "1.2.3"}, "1.2.3"},
		{"the npm package", protocol.InitializeParams{HostPath: opencode}, nil, "1.18.33"},
		{"another package", protocol.InitializeParams{HostPath: node}, nil, ""},
		{"not JSON", protocol.InitializeParams{HostPath: broken}, nil, ""},
		{"no package", protocol.InitializeParams{HostPath: filepath.Join(dir, "none", "bin", "opencode")}, nil, ""},
		{"no path", protocol.InitializeParams{}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, hostVersion(tc.p, func(k string) string { return tc.env[k] }))
		})
	}
}
