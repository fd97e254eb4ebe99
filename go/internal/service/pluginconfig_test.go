package service

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
)

type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, string, any) error { return nil }

// OpenCode drops pluginConfig before plugins see the config; the sidecar
// reads it from the same files, so the older shape keeps working.
func TestPluginConfigIsReadFromTheConfigFiles(t *testing.T) {
	home := t.TempDir()
	project := filepath.Join(home, "project")
	require.NoError(t, os.MkdirAll(filepath.Join(project, ".git"), 0o700))
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	for _, k := range []string{"OPENCODE_CONFIG", "OPENCODE_CONFIG_CONTENT", "OPENCODE_CONFIG_DIR"} {
		t.Setenv(k, "")
	}
	require.NoError(t, os.WriteFile(filepath.Join(project, "opencode.jsonc"), []byte(`{
	  // the older shape
	  "pluginConfig": {"oauth2ModelSync": {"servers": [
	    {"id": "legacy", "issuer": "http://127.0.0.1:9", "baseURL": "http://127.0.0.1:9/v1", "clientId": "c",
	     "clientSecret": "s", "authFlow": "client_credentials", "scopes": ["api"], "responseApi": true},
	  ]}},
	}`), 0o600))

	h := NewHub(Options{Log: logging.Discard(), CacheDir: t.TempDir(), WatchEvery: -1, BootBudget: 1})
	t.Cleanup(func() { _ = h.Shutdown(context.Background()) })
	require.NoError(t, h.Initialize(context.Background(), protocol.InitializeParams{ProtocolVersion: 1, Directory: project}, nopNotifier{}.Notify))
	e := h.Location("")

	tests := []struct {
		name    string
		config  string
		managed []string
	}{
		{"dropped by the host: read from the files", `{"provider": {}}`, []string{"legacy"}},
		{"passed by the host: used as given", `{"pluginConfig": {"oauth2ModelSync": {"servers": []}}}`, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.ApplyConfig(context.Background(), protocol.ConfigApplyParams{Config: json.RawMessage(tc.config)})
			require.NoError(t, err)
			assert.Equal(t, tc.managed, res.Managed)
			assert.Equal(t, tc.managed, res.ResponseAPI)
		})
	}
}
