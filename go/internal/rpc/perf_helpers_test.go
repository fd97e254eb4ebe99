package rpc_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/rpc"
	"github.com/vymalo/opencode-oauth2/go/internal/service"
)

// This file holds what the benchmarks and the steady-state test share: a
// stub authorization server and gateway, a shim-like client speaking the
// protocol's framing over real OS pipes, the in-process sidecar on those
// pipes, and the floor peer (a bare JSON echo with the same framing).

// stubIdP is a token endpoint (client_credentials) and a /v1/models endpoint
// on 127.0.0.1. A token requested with scope "noexpiry" has no expires_in,
// so a machine flow acquires a new one each time it is needed.
type stubIdP struct {
	srv      *httptest.Server
	tokens   atomic.Int64
	models   atomic.Int64
	listJSON []byte

	mu      sync.Mutex
	byScope map[string]int64 // token requests per scope prefix (before "-")
}

// tokensFor is the number of token requests with this scope prefix.
func (s *stubIdP) tokensFor(prefix string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byScope[prefix]
}

func startStubIdP(tb testing.TB, nModels int) *stubIdP {
	tb.Helper()
	s := &stubIdP{byScope: map[string]int64{}}
	list := make([]map[string]any, nModels)
	for i := range list {
		list[i] = map[string]any{"id": fmt.Sprintf("model-%03d", i), "owned_by": "perf", "created": 1700000000, "context_length": 128000}
	}
	data, err := json.Marshal(map[string]any{"object": "list", "data": list})
	require.NoError(tb, err)
	s.listJSON = data
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		n := s.tokens.Add(1)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		prefix, _, _ := strings.Cut(r.PostForm.Get("scope"), "-")
		s.mu.Lock()
		s.byScope[prefix]++
		s.mu.Unlock()
		body := map[string]any{"access_token": accessToken(n), "token_type": "Bearer"}
		if r.PostForm.Get("scope") != "noexpiry" {
			body["expires_in"] = 3600
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	})
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, _ *http.Request) {
		s.models.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.listJSON)
	})
	s.srv = httptest.NewServer(mux)
	tb.Cleanup(s.srv.Close)
	return s
}

// accessToken is the stub's n-th access token, as long as a typical JWT
// access token (the protocol's cost grows with it).
func accessToken(n int64) string {
	return fmt.Sprintf("tok-%d-%s", n, strings.Repeat("x", 800))
}

// provider is an OpenCode provider entry for a client_credentials provider
// served by the stub.
func (s *stubIdP) provider(scope string) map[string]any {
	return map[string]any{"options": map[string]any{
		"baseURL": s.srv.URL + "/v1",
		"oauth2": map[string]any{
			"issuer": s.srv.URL, "clientId": "perf", "clientSecret": "perf-secret",
			"authFlow": "client_credentials", "tokenEndpoint": s.srv.URL + "/token", "scopes": []string{scope},
		},
	}}
}

// frame is any message from the sidecar.
type frame struct {
	ID     *int64          `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

type request struct {
	JSONRPC string `json:"jsonrpc"`
	ID      int64  `json:"id"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

// maxSkipped bounds how many notifications a call skips before its answer.
const maxSkipped = 100_000

// client plays the shim: one request at a time, notifications skipped.
type client struct {
	w      *bufio.Writer
	r      *bufio.Reader
	nextID int64
}

func newClient(w io.Writer, r io.Reader) *client {
	return &client{w: bufio.NewWriter(w), r: bufio.NewReader(r)}
}

func (c *client) call(method string, params any) (frame, error) {
	c.nextID++
	id := c.nextID
	if err := (rpc.Codec{}).WriteObject(c.w, request{JSONRPC: "2.0", ID: id, Method: method, Params: params}); err != nil {
		return frame{}, err
	}
	if err := c.w.Flush(); err != nil {
		return frame{}, err
	}
	for range maxSkipped {
		var f frame
		if err := (rpc.Codec{}).ReadObject(c.r, &f); err != nil {
			return frame{}, err
		}
		if f.Method != "" {
			continue // a notification
		}
		if f.ID == nil || *f.ID != id {
			return frame{}, fmt.Errorf("answer to %d arrived while waiting for %d", derefID(f.ID), id)
		}
		if len(f.Error) > 0 && string(f.Error) != "null" {
			return f, fmt.Errorf("%s: %s", method, f.Error)
		}
		return f, nil
	}
	return frame{}, fmt.Errorf("%s: no answer among %d frames", method, maxSkipped)
}

func derefID(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}

// pipes are two real OS pipes: to the peer and from it.
type pipes struct {
	peerIn, clientOut *os.File // client → peer
	clientIn, peerOut *os.File // peer → client
}

func newPipes(tb testing.TB) *pipes {
	tb.Helper()
	inR, inW, err := os.Pipe()
	require.NoError(tb, err)
	outR, outW, err := os.Pipe()
	require.NoError(tb, err)
	return &pipes{peerIn: inR, clientOut: inW, clientIn: outR, peerOut: outW}
}

func (p *pipes) closeAll() {
	for _, f := range []*os.File{p.clientOut, p.peerIn, p.peerOut, p.clientIn} {
		_ = f.Close()
	}
}

// sidecar is the real server and engine, in this process, on OS pipes.
type sidecar struct {
	*client
	hub *service.Hub
}

func startPipeSidecar(tb testing.TB, watchEvery time.Duration) *sidecar {
	tb.Helper()
	p := newPipes(tb)
	eng := service.NewHub(service.Options{Log: logging.Discard(), CacheDir: tb.TempDir(), WatchEvery: watchEvery})
	srv := rpc.NewServer(eng, "bench", logging.Discard())
	done := make(chan struct{})
	go func() {
		_ = srv.Serve(context.Background(), p.peerIn, p.peerOut)
		close(done)
	}()
	tb.Cleanup(func() {
		_ = p.clientOut.Close() // EOF: the server stops
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			tb.Error("the server did not stop after its input closed")
		}
		_ = eng.Shutdown(context.Background())
		p.closeAll()
	})
	return &sidecar{client: newClient(p.clientOut, p.clientIn), hub: eng}
}

// initialize sends initialize and config/apply with the given providers and
// waits (bounded) until every managed provider's model list is in.
func (s *sidecar) initialize(tb testing.TB, providers map[string]any, models int) {
	tb.Helper()
	_, err := s.call("initialize", map[string]any{"protocolVersion": 1, "interactive": false})
	require.NoError(tb, err)
	_, err = s.call("config/apply", map[string]any{"config": map[string]any{"provider": providers}})
	require.NoError(tb, err)
	for id := range providers {
		p, ok := s.hub.Location("").Provider(id)
		if !ok {
			continue
		}
		require.True(tb, waitFor(10*time.Second, func() bool { return len(p.Catalog.Models()) == models && !p.Entry.Load().LastSyncAt.IsZero() }),
			"the background model sync of %s did not finish", id)
	}
}

// echoPeer is the floor: it reads each frame with rpc.Codec and answers
// with result (nil: the request's params), buffered and flushed per frame
// like the sidecar's stream. Nothing else: no JSON-RPC library, no engine.
func echoPeer(r io.Reader, w io.Writer, result json.RawMessage) error {
	br := bufio.NewReader(r)
	bw := bufio.NewWriter(w)
	for {
		var req struct {
			ID     json.RawMessage `json:"id"`
			Params json.RawMessage `json:"params"`
		}
		if err := (rpc.Codec{}).ReadObject(br, &req); err != nil {
			return err
		}
		if result != nil {
			req.Params = result
		}
		resp := struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Result  json.RawMessage `json:"result"`
		}{"2.0", req.ID, req.Params}
		if err := (rpc.Codec{}).WriteObject(bw, resp); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}

// floorResult is what the floor answers: a headers/get result of the same
// shape and size as the sidecar's, so that both move the same bytes.
func floorResult(tb testing.TB) json.RawMessage {
	tb.Helper()
	data, err := json.Marshal(map[string]any{
		"headers": map[string]string{"Authorization": "Bearer " + accessToken(1)}, "cacheUntil": time.Now().Add(5 * time.Minute).UnixMilli(),
	})
	require.NoError(tb, err)
	return data
}

func startPipeEcho(tb testing.TB) *client {
	tb.Helper()
	p := newPipes(tb)
	result := floorResult(tb)
	done := make(chan struct{})
	go func() {
		_ = echoPeer(p.peerIn, p.peerOut, result)
		close(done)
	}()
	tb.Cleanup(func() {
		_ = p.clientOut.Close()
		<-done
		p.closeAll()
	})
	return newClient(p.clientOut, p.clientIn)
}

// waitFor polls cond every 10 ms until it holds or limit passes.
func waitFor(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// latencies collects per-operation durations and reports their median and
// 99th percentile (nearest rank) as benchmark metrics.
type latencies []time.Duration

func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func (l latencies) report(b *testing.B) {
	b.ReportMetric(float64(l.percentile(0.50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(l.percentile(0.99).Nanoseconds()), "p99-ns")
}
