package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zalando/go-keyring"

	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
	"github.com/vymalo/opencode-oauth2/go/internal/service"
)

// TestTokenStorages: where tokenStorage puts the tokens (the keychain is
// go-keyring's test double; the real Secret Service is the integration
// suite's): keyring keeps no token in any file, memory writes none, a
// keyring that does not answer is an error naming the provider and the way
// out, auto falls back to the file with a notice.
func TestTokenStorages(t *testing.T) {
	var issued atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"access_token":"secret-token-%d","token_type":"Bearer","expires_in":3600}`, issued.Add(1))
	}))
	defer srv.Close()
	tests := []struct {
		name, storage string
		keychain      error // nil: a keychain answers
		wantProblem   string
		wantInFiles   bool // the token's bytes are in some file of the cache
	}{
		{"file", "file", nil, "", true},
		{"keyring", "keyring", nil, "", false},
		{"memory", "memory", nil, "", false},
		{"keyring without a keychain", "keyring", errors.New("no Secret Service"), `provider "gw": tokenStorage is "keyring", but no keychain answers`, false},
		{"auto without a keychain", "auto", errors.New("no Secret Service"), "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.keychain != nil {
				keyring.MockInitWithError(tc.keychain)
			} else {
				keyring.MockInit()
			}
			cache := t.TempDir()
			var logs strings.Builder
			eng := service.New(service.Options{Log: slog.New(slog.NewTextHandler(&logs, nil)), CacheDir: cache, WatchEvery: -1})
			cfg, err := json.Marshal(map[string]any{"provider": map[string]any{"gw": map[string]any{"options": map[string]any{
				"baseURL": srv.URL + "/v1",
				"oauth2": map[string]any{"issuer": srv.URL, "clientId": "c", "clientSecret": "s", "authFlow": "client_credentials",
					"tokenEndpoint": srv.URL + "/token", "tokenStorage": tc.storage},
			}}}})
			require.NoError(t, err)
			res, err := eng.ApplyConfig(context.Background(), protocol.ConfigApplyParams{Config: cfg})
			require.NoError(t, err)
			if tc.wantProblem != "" {
				var msgs []string
				for _, p := range res.Problems {
					msgs = append(msgs, p.Message)
				}
				assert.Contains(t, strings.Join(msgs, "\n"), tc.wantProblem)
				assert.Contains(t, strings.Join(msgs, "\n"), `set tokenStorage to "auto" or "file"`)
				return
			}
			h, err := eng.Headers(context.Background(), protocol.HeadersParams{ProviderID: "gw"})
			require.NoError(t, err)
			token := strings.TrimPrefix(h.Headers["Authorization"], "Bearer ")
			require.NotEmpty(t, token)
			require.NoError(t, eng.Shutdown(context.Background())) // the write-behind cache write is done
			found := false
			_ = filepath.WalkDir(cache, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					data, _ := os.ReadFile(p)
					found = found || strings.Contains(string(data), token)
				}
				return nil
			})
			assert.Equal(t, tc.wantInFiles, found, "the token's bytes in the cache directory")
			if tc.storage == "auto" {
				assert.Contains(t, logs.String(), "no keychain answers")
			}
		})
	}
}
