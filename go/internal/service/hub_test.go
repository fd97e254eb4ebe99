package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
	"github.com/vymalo/opencode-oauth2/go/internal/service"
)

type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, string, any) error { return nil }

// TestLocationsKeepTheirProviders: two OpenCode 2 locations (project
// directories) served by one hub configure the provider id "gw" with
// different clients: each gets its own token (never the other's), and
// closing one location leaves the other's provider working.
func TestLocationsKeepTheirProviders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		client, _, _ := r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"access_token":"token-for-%s","token_type":"Bearer","expires_in":3600}`, client)
	}))
	defer srv.Close()
	cache := t.TempDir()
	hub := service.NewHub(service.Options{Log: logging.Discard(), CacheDir: cache, WatchEvery: -1})
	defer func() { _ = hub.Shutdown(context.Background()) }()
	require.NoError(t, hub.Initialize(context.Background(), protocol.InitializeParams{ProtocolVersion: 1}, nopNotifier{}.Notify))

	apply := func(location, client string) {
		cfg, err := json.Marshal(map[string]any{"provider": map[string]any{"gw": map[string]any{"options": map[string]any{
			"baseURL": srv.URL + "/v1",
			"oauth2": map[string]any{"issuer": srv.URL, "clientId": client, "clientSecret": "s", "authFlow": "client_credentials",
				"clientAuthMethod": "client_secret_basic", "tokenEndpoint": srv.URL + "/token"},
		}}}})
		require.NoError(t, err)
		res, err := hub.ApplyConfig(context.Background(), protocol.ConfigApplyParams{Config: cfg, Location: location, Directory: "/" + location})
		require.NoError(t, err)
		require.Equal(t, []string{"gw"}, res.Managed, "%v", res.Problems)
	}
	apply("/projects/a", "client-a")
	apply("/projects/b", "client-b")
	header := func(location string) string {
		h, err := hub.Headers(context.Background(), protocol.HeadersParams{ProviderID: "gw", Location: location})
		require.NoError(t, err)
		return h.Headers["Authorization"]
	}
	assert.Equal(t, "Bearer token-for-client-a", header("/projects/a"))
	assert.Equal(t, "Bearer token-for-client-b", header("/projects/b"))
	// The cache files are written behind the answers.
	credentials := func() []string {
		files, _ := filepath.Glob(filepath.Join(cache, "gw-*.json"))
		var out []string
		for _, f := range files {
			if !strings.Contains(f, ".models.") {
				out = append(out, f)
			}
		}
		return out
	}
	require.Eventually(t, func() bool { return len(credentials()) == 2 }, 10*time.Second, 20*time.Millisecond, "a cache file each: %v", credentials())

	hub.CloseLocation("/projects/a")
	assert.Equal(t, "Bearer token-for-client-b", header("/projects/b"), "the other location is untouched")
	h, err := hub.Headers(context.Background(), protocol.HeadersParams{ProviderID: "gw", Location: "/projects/a"})
	require.NoError(t, err)
	assert.Empty(t, h.Headers, "a closed location manages nothing")
}
