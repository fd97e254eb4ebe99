package rpc_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/logging"
	"github.com/vymalo/opencode-oauth2/go/internal/rpc"
	"github.com/vymalo/opencode-oauth2/go/internal/service"
)

type example struct {
	Description string            `json:"description"`
	Env         map[string]string `json:"env"`
	Exchanges   []struct {
		Send   json.RawMessage `json:"send"`
		Expect json.RawMessage `json:"expect"`
	} `json:"exchanges"`
}

func examplesDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "protocol", "examples")
	_, err := os.Stat(dir)
	require.NoError(t, err)
	return dir
}

// peer is the shim's side of an in-process server.
type peer struct {
	w   io.Writer
	r   *bufio.Reader
	out chan map[string]any
}

func startServer(t *testing.T) *peer {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	log, sink := logging.NewWithFile(io.Discard, 0, nil, 0)
	eng := service.NewHub(service.Options{Log: log, Sink: sink, WatchEvery: -1})
	srv := rpc.NewServer(eng, "test", log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = srv.Serve(ctx, inR, outW)
		close(done)
	}()
	p := &peer{w: inW, r: bufio.NewReader(outR), out: make(chan map[string]any, 64)}
	go func() {
		for {
			var msg map[string]any
			if err := (rpc.Codec{}).ReadObject(p.r, &msg); err != nil {
				close(p.out)
				return
			}
			p.out <- msg
		}
	}()
	t.Cleanup(func() {
		_ = eng.Shutdown(context.Background())
		cancel()
		_ = inW.Close()
		_ = outW.Close()
		<-done
	})
	return p
}

func (p *peer) send(t *testing.T, msg json.RawMessage) {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(msg, &v))
	require.NoError(t, rpc.Codec{}.WriteObject(p.w, v))
}

// response waits for the response with the given id, skipping notifications.
func (p *peer) response(t *testing.T, id any) map[string]any {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case msg, ok := <-p.out:
			require.True(t, ok, "connection closed before the response to %v", id)
			if _, isNotif := msg["method"]; isNotif {
				continue
			}
			if fmt.Sprint(msg["id"]) == fmt.Sprint(id) {
				return msg
			}
		case <-deadline:
			t.Fatalf("no response to request %v", id)
		}
	}
}

// match implements the rules of protocol.md: subset for objects, equal
// length for arrays, "<any>" and "<string>" wildcards.
func match(path string, expect, got any) []string {
	switch e := expect.(type) {
	case string:
		switch e {
		case "<any>":
			return nil
		case "<string>":
			if _, ok := got.(string); ok {
				return nil
			}
			return []string{fmt.Sprintf("%s: want a string, got %#v", path, got)}
		}
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %#v", path, got)}
		}
		var errs []string
		for k, v := range e {
			gv, present := g[k]
			if !present {
				errs = append(errs, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			errs = append(errs, match(path+"."+k, v, gv)...)
		}
		return errs
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(e) {
			return []string{fmt.Sprintf("%s: want an array of %d, got %#v", path, len(e), got)}
		}
		var errs []string
		for i := range e {
			errs = append(errs, match(fmt.Sprintf("%s[%d]", path, i), e[i], g[i])...)
		}
		return errs
	}
	if fmt.Sprintf("%#v", expect) != fmt.Sprintf("%#v", got) {
		return []string{fmt.Sprintf("%s: want %#v, got %#v", path, expect, got)}
	}
	return nil
}

func TestProtocolExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir(t), "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			var ex example
			require.NoError(t, json.Unmarshal(data, &ex))
			tmp := t.TempDir()
			t.Setenv("OPENCODE_OAUTH2_CACHE_DIR", filepath.Join(tmp, "cache"))
			for k, v := range ex.Env {
				t.Setenv(k, strings.ReplaceAll(v, "<tmpdir>", tmp))
			}
			p := startServer(t)
			for i, x := range ex.Exchanges {
				p.send(t, x.Send)
				var send map[string]any
				require.NoError(t, json.Unmarshal(x.Send, &send))
				if x.Expect == nil {
					continue
				}
				var expect any
				require.NoError(t, json.Unmarshal(x.Expect, &expect))
				got := p.response(t, send["id"])
				assert.Empty(t, match("$", expect, got), "exchange %d (%s)", i, send["method"])
			}
		})
	}
}

func TestMatchRules(t *testing.T) {
	tests := []struct {
		name         string
		expect, got  string
		wantMismatch bool
	}{
		{"subset object", `{"a":1}`, `{"a":1,"b":2}`, false},
		{"missing key", `{"a":1}`, `{"b":2}`, true},
		{"wrong value", `{"a":1}`, `{"a":2}`, true},
		{"any", `{"a":"<any>"}`, `{"a":[1]}`, false},
		{"string wildcard", `{"a":"<string>"}`, `{"a":1}`, true},
		{"array length", `[1]`, `[1,2]`, true},
		{"null", `{"result":null}`, `{"result":null}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e, g any
			require.NoError(t, json.Unmarshal([]byte(tc.expect), &e))
			require.NoError(t, json.Unmarshal([]byte(tc.got), &g))
			assert.Equal(t, tc.wantMismatch, len(match("$", e, g)) > 0)
		})
	}
}
