package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/config"
	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
	"github.com/vymalo/opencode-oauth2/go/internal/service"
	"github.com/vymalo/opencode-oauth2/go/internal/store"
	"github.com/vymalo/opencode-oauth2/go/internal/testsupport/syncbuf"
)

// gateways serves a token endpoint and, under /<name>/v1/models, one model
// list per name, on 127.0.0.1.
func gateways(t *testing.T, lists map[string][]byte) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"at","token_type":"Bearer","expires_in":3600}`))
	})
	mux.HandleFunc("GET /{name}/v1/models", func(w http.ResponseWriter, r *http.Request) {
		body, ok := lists[r.PathValue("name")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func modelList(ids ...string) []byte {
	var b strings.Builder
	b.WriteString(`{"object":"list","data":[`)
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		q, _ := json.Marshal(id)
		b.WriteString(`{"id":` + string(q) + `,"object":"model","owned_by":"gw"}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// compactList is the shortest models answer: a top-level array of ids.
func compactList(ids []string) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":"` + id + `"}`)
	}
	b.WriteByte(']')
	return []byte(b.String())
}

// applyMachine applies a config of client_credentials providers, one per
// name, each listing /<name>/v1/models, with extra oauth2 fields.
func applyMachine(t *testing.T, srv *httptest.Server, cache string, names map[string]map[string]any) (protocol.ConfigApplyResult, string) {
	t.Helper()
	raw := machineConfig(t, srv, names)
	logs := &syncbuf.Buffer{}
	eng := service.New(service.Options{Log: slog.New(slog.NewTextHandler(logs, nil)), CacheDir: cache, WatchEvery: -1, BootBudget: 60 * time.Second})
	t.Cleanup(func() { _ = eng.Shutdown(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := eng.ApplyConfig(ctx, protocol.ConfigApplyParams{Config: raw})
	require.NoError(t, err)
	return res, logs.String()
}

// machineConfig is an OpenCode config of client_credentials providers.
func machineConfig(t *testing.T, srv *httptest.Server, names map[string]map[string]any) json.RawMessage {
	t.Helper()
	providers := map[string]any{}
	for name, extra := range names {
		oauth2 := map[string]any{"issuer": srv.URL, "clientId": "cli", "clientSecret": "cli-secret",
			"authFlow": "client_credentials", "tokenEndpoint": srv.URL + "/token"}
		for k, v := range extra {
			oauth2[k] = v
		}
		providers[name] = map[string]any{"options": map[string]any{"baseURL": srv.URL + "/" + name + "/v1", "oauth2": oauth2}}
	}
	raw, err := json.Marshal(map[string]any{"provider": providers})
	require.NoError(t, err)
	return raw
}

// seedLegacyModels writes gw's state file as an earlier version did: the
// model list beside the token.
func seedLegacyModels(t *testing.T, srv *httptest.Server, cache string, list json.RawMessage) {
	t.Helper()
	parsed, err := config.Parse(machineConfig(t, srv, map[string]map[string]any{"gw": nil}))
	require.NoError(t, err)
	require.Len(t, parsed.Providers, 1)
	key := parsed.Providers[0].CacheKey()
	st, err := store.Open(cache, logging.Discard())
	require.NoError(t, err)
	old, err := json.Marshal(map[string]any{"version": 1, "providerID": "gw", "key": key, "models": list, "lastSyncAt": time.Now().UTC()})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(st.Entry("gw", key).Path(), old, 0o600))
}

func answerIDs(res protocol.ConfigApplyResult, provider string) []string {
	ms, _ := res.Providers[provider]["models"].(map[string]any)
	out := make([]string, 0, len(ms))
	for id := range ms {
		out = append(out, id)
	}
	return out
}

// TestOneGatewayCannotRemoveEveryProvider: a gateway listing ~550,000
// models (7.6 MB, under the fetch bound) made the config/apply answer
// larger than one protocol frame, and OpenCode registered no managed
// provider at all. One provider now contributes at most maxModels models
// (a warning says how many were dropped), the answer always fits into a
// frame (a provider whose list still does not fit is registered without
// its discovered models, with a problem naming it), the other providers
// keep their models, and nothing of the lists reaches the credentials.
func TestOneGatewayCannotRemoveEveryProvider(t *testing.T) {
	many := make([]string, 550_000)
	for i := range many {
		many[i] = fmt.Sprintf("%x", i)
	}
	long := make([]string, 20_000)
	for i := range long {
		long[i] = fmt.Sprintf("%0200d", i) // 20,000 ids of 200 characters: over 4 MiB as model entries
	}
	srv := gateways(t, map[string][]byte{
		"huge":   compactList(many),
		"long":   modelList(long...),
		"normal": modelList("gpt-4o", "glm-5"),
	})
	require.Greater(t, len(compactList(many)), 7<<20)

	cache := t.TempDir()
	res, logs := applyMachine(t, srv, cache, map[string]map[string]any{
		"huge": nil, "normal": nil, "long": {"maxModels": 20000},
	})
	answer, err := json.Marshal(res)
	require.NoError(t, err)
	assert.Less(t, len(answer), protocol.MaxFrame, "the answer fits into one frame")
	assert.ElementsMatch(t, []string{"huge", "long", "normal"}, res.Managed)
	assert.ElementsMatch(t, []string{"gpt-4o", "glm-5"}, answerIDs(res, "normal"))
	assert.Len(t, answerIDs(res, "huge"), 20000, "maxModels defaults to 20,000")
	assert.Contains(t, logs, "more models than maxModels")
	assert.Contains(t, logs, "provider=huge")
	assert.Contains(t, logs, "dropped=530000")
	assert.Empty(t, answerIDs(res, "long"), "too large for a frame: registered without discovered models")
	var named bool
	for _, p := range res.Problems {
		named = named || (p.ProviderID == "long" && strings.Contains(p.Message, "does not fit"))
	}
	assert.True(t, named, "a problem names the provider: %+v", res.Problems)

	// The credentials files hold no model.
	files, err := filepath.Glob(filepath.Join(cache, "huge-*.json"))
	require.NoError(t, err)
	for _, f := range files {
		if strings.HasSuffix(f, ".models.json") {
			continue
		}
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.False(t, strings.Contains(string(data), `"id"`), "%s holds models", f)
	}
}

// TestHostileModelIdsNeverReachOpenCode: ids that crash OpenCode
// (Object.prototype names) or rewrite the user's terminal (escape
// sequences, bidirectional overrides) are dropped before the answer leaves
// the sidecar, with a warning naming the provider, from a fresh list and
// from a list cached by an earlier version alike.
func TestHostileModelIdsNeverReachOpenCode(t *testing.T) {
	hostile := []string{"__proto__", "constructor", "toString", "hasOwnProperty", "evil\x1b]0;pwned\x07", "rlo\u202egpt", "cr\rx", "nul\x00"}
	srv := gateways(t, map[string][]byte{"gw": modelList(append(hostile, "good-model")...)})
	res, logs := applyMachine(t, srv, t.TempDir(), map[string]map[string]any{"gw": nil})
	assert.Equal(t, []string{"good-model"}, answerIDs(res, "gw"))
	answer, err := json.Marshal(res)
	require.NoError(t, err)
	assert.NotContains(t, string(answer), `\u001b`)
	assert.NotContains(t, string(answer), "\u202e")
	assert.Contains(t, logs, "model ids OpenCode cannot hold safely were dropped")
	assert.Contains(t, logs, "provider=gw")
	assert.Contains(t, logs, "dropped=8")

	// A list cached before this check existed is screened at start too.
	cache := t.TempDir()
	cached, err := json.Marshal([]map[string]string{{"id": "constructor"}, {"id": "esc\x1b[2J"}, {"id": "kept", "name": "Kept\x1b[31m"}})
	require.NoError(t, err)
	legacy := gateways(t, map[string][]byte{}) // lists nothing: the cached list is what OpenCode gets
	seedLegacyModels(t, legacy, cache, cached)
	res, logs = applyMachine(t, legacy, cache, map[string]map[string]any{"gw": nil})
	assert.Equal(t, []string{"kept"}, answerIDs(res, "gw"))
	assert.Equal(t, "Kept[31m", res.Providers["gw"]["models"].(map[string]any)["kept"].(map[string]any)["name"])
	assert.Contains(t, logs, "cached model list")
}
