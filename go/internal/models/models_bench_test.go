package models

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

// catalogBody is a realistic /v1/models answer with n models: OpenAI-style
// entries, a third with OpenRouter-style limits, ids with '/', ':' and dots.
func catalogBody(n int) []byte {
	type entry struct {
		ID            string         `json:"id"`
		Object        string         `json:"object"`
		Created       int64          `json:"created"`
		OwnedBy       string         `json:"owned_by"`
		ContextLength int            `json:"context_length,omitempty"`
		TopProvider   map[string]int `json:"top_provider,omitempty"`
	}
	families := []string{"meta-llama/Llama-3.1-%dB-Instruct", "qwen2-%db-instruct", "deepseek-r1:%db", "gpt-4o-mini-%d", "kimi-k2.%d"}
	data := make([]entry, n)
	for i := range data {
		e := entry{ID: fmt.Sprintf(families[i%len(families)], i), Object: "model", Created: 1715367049 + int64(i), OwnedBy: "org-" + fmt.Sprint(i%7)}
		if i%3 == 0 {
			e.ContextLength = 131072
			e.TopProvider = map[string]int{"context_length": 131072, "max_completion_tokens": 8192}
		}
		data[i] = e
	}
	b, err := json.Marshal(map[string]any{"object": "list", "data": data})
	if err != nil {
		panic(err)
	}
	return b
}

// reportCPU adds a cpu-ns/op metric: the process's CPU time (all
// goroutines: the in-process test server and the GC included, so an upper
// bound) per iteration. Wall-clock ns/op is unreliable on a shared machine.
func reportCPU(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		end, ok2 := processCPU()
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// benchServer serves body, with a Content-Length unless chunked.
func benchServer(b *testing.B, body []byte, chunked bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !chunked {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkFetchNormalizeMerge5000 is one whole sync of a 5,000-model
// gateway over loopback: fetch, parse, normalize, diff and merge into a
// user's models object.
func BenchmarkFetchNormalizeMerge5000(b *testing.B) { benchSync(b, false) }

// BenchmarkFetchNormalizeMerge5000Chunked is the same without a
// Content-Length (the body buffer grows as it is read).
func BenchmarkFetchNormalizeMerge5000Chunked(b *testing.B) { benchSync(b, true) }

func benchSync(b *testing.B, chunked bool) {
	body := catalogBody(5000)
	srv := benchServer(b, body, chunked)
	f := Fetcher{Client: srv.Client()}
	auth := secret.New("Bearer bench-token")
	overrides := map[string]string{"qwen2-1b-instruct": "Qwen 2 (1B)"}
	user := map[string]any{"custom": map[string]any{"name": "Mine"}, "kimi-k2.4": map[string]any{"name": "Kimi"}}
	prev, err := f.Fetch(context.Background(), srv.URL+"/v1/models", "Authorization", auth)
	if err != nil {
		b.Fatal(err)
	}
	Normalize(prev.Models, overrides)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		l, err := f.Fetch(context.Background(), srv.URL+"/v1/models", "Authorization", auth)
		if err != nil {
			b.Fatal(err)
		}
		Normalize(l.Models, overrides)
		_ = Diff(prev.Models, l.Models)
		if m := Merge(user, l.Models); len(m) != 5001 {
			b.Fatalf("merged %d models", len(m))
		}
	}
}

func BenchmarkParse5000(b *testing.B) {
	body := catalogBody(5000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := Parse(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNormalize5000(b *testing.B) {
	l, err := Parse(catalogBody(5000))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		Normalize(l.Models, nil)
	}
}

func BenchmarkMerge5000(b *testing.B) {
	l, err := Parse(catalogBody(5000))
	if err != nil {
		b.Fatal(err)
	}
	Normalize(l.Models, nil)
	user := map[string]any{"custom": map[string]any{"name": "Mine"}}
	b.ReportAllocs()
	for b.Loop() {
		_ = Merge(user, l.Models)
	}
}

func BenchmarkDisplayName(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = DisplayName("meta-llama/Llama-3.1-8B-Instruct", nil)
	}
}
