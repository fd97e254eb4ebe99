package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/protocol"
	"github.com/vymalo/opencode-oauth2/go/internal/service"
)

// benchModels is the size of the provider's model list (a large gateway's).
const benchModels = 500

// stubIdP serves client_credentials tokens valid for an hour and a model
// list, on 127.0.0.1.
type stubIdP struct {
	srv    *httptest.Server
	tokens atomic.Int64
}

func startStubIdP(tb testing.TB, nModels int) *stubIdP {
	tb.Helper()
	s := &stubIdP{}
	list := make([]map[string]any, nModels)
	for i := range list {
		list[i] = map[string]any{"id": fmt.Sprintf("model-%03d", i), "owned_by": "perf", "created": 1700000000, "context_length": 128000}
	}
	models, err := json.Marshal(map[string]any{"object": "list", "data": list})
	require.NoError(tb, err)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, _ *http.Request) {
		n := s.tokens.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, accessToken(n))
	})
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(models)
	})
	s.srv = httptest.NewServer(mux)
	tb.Cleanup(s.srv.Close)
	return s
}

// accessToken is the stub's n-th access token, as long as a typical JWT
// access token.
func accessToken(n int64) string {
	return fmt.Sprintf("tok-%d-%s", n, strings.Repeat("x", 800))
}

// newManagedEngine applies a config with one client_credentials provider
// "gw" and waits (bounded) until its token and model list are in memory.
func newManagedEngine(tb testing.TB) (*service.Engine, *stubIdP) {
	tb.Helper()
	idp := startStubIdP(tb, benchModels)
	eng := service.New(service.Options{Log: logging.Discard(), CacheDir: tb.TempDir(), WatchEvery: -1})
	tb.Cleanup(func() { _ = eng.Shutdown(context.Background()) })
	cfg, err := json.Marshal(map[string]any{"provider": map[string]any{"gw": map[string]any{"options": map[string]any{
		"baseURL": idp.srv.URL + "/v1",
		"oauth2": map[string]any{
			"issuer": idp.srv.URL, "clientId": "perf", "clientSecret": "perf-secret",
			"authFlow": "client_credentials", "tokenEndpoint": idp.srv.URL + "/token", "scopes": []string{"api"},
		},
	}}}})
	require.NoError(tb, err)
	res, err := eng.ApplyConfig(context.Background(), protocol.ConfigApplyParams{Config: cfg})
	require.NoError(tb, err)
	require.Equal(tb, []string{"gw"}, res.Managed, "%v", res.Problems)
	p, ok := eng.Provider("gw")
	require.True(tb, ok)
	deadline := time.Now().Add(10 * time.Second)
	// The sync writes the state file after the catalog is updated: wait
	// for both, so that no write is under way when the benchmark ends.
	for (len(p.Catalog.Models()) != benchModels || p.Entry.Load().LastSyncAt.IsZero()) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	require.Len(tb, p.Catalog.Models(), benchModels, "the background model sync did not finish")
	return eng, idp
}

// batch is how many calls one latency sample covers: these calls take well
// under a microsecond, below what timing a single call can resolve.
const batch = 100

// BenchmarkHeaders measures Engine.Headers, the work behind headers/get:
// a managed provider whose token is fresh in memory, and a provider the
// sidecar does not manage. p50-ns and p99-ns are per call, from samples of
// 100 consecutive calls each.
func BenchmarkHeaders(b *testing.B) {
	cases := []struct {
		name       string
		providerID string
		wantAuth   bool
	}{
		{"managed-fresh", "gw", true},
		{"unmanaged", "plain", false},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			eng, idp := newManagedEngine(b)
			ctx := context.Background()
			p := protocol.HeadersParams{ProviderID: tc.providerID, ModelID: "model-001"}
			res, err := eng.Headers(ctx, p)
			require.NoError(b, err)
			require.Equal(b, tc.wantAuth, res.Headers["Authorization"] != "")
			samples := make([]time.Duration, 0, 1024)
			b.ReportAllocs()
			b.ResetTimer()
			t0 := time.Now()
			for i := range b.N {
				if _, err := eng.Headers(ctx, p); err != nil {
					b.Fatal(err)
				}
				if (i+1)%batch == 0 {
					now := time.Now()
					samples = append(samples, now.Sub(t0)/batch)
					t0 = now
				}
			}
			b.StopTimer()
			reportPerCall(b, samples)
			if n := idp.tokens.Load(); n != 1 {
				b.Fatalf("%d token requests; a fresh token must be served from memory", n)
			}
		})
	}
}

func reportPerCall(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return // b.N below one batch (the calibration run)
	}
	slices.Sort(samples)
	at := func(p float64) float64 {
		i := int(float64(len(samples))*p+0.999999) - 1
		return float64(samples[min(max(i, 0), len(samples)-1)].Nanoseconds())
	}
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
}
