package rpc

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryRequestIsAnsweredAsJSONRPCSays: a request whose id is null was
// taken for a notification and never answered (the shim would wait for
// ever), and an empty frame body, a batch, an id of the wrong type or a
// request without a method ended the connection without a word. JSON-RPC
// 2.0 (section 5) wants an error response: -32700 with a null id for a body
// that is not JSON (then the connection ends, as for any broken frame),
// -32600 for an invalid request (with its id when it has a usable one,
// else null), and the connection goes on.
func TestEveryRequestIsAnsweredAsJSONRPCSays(t *testing.T) {
	const next = `{"jsonrpc":"2.0","id":99,"method":"initialize","params":{"protocolVersion":1}}`
	tests := []struct {
		name     string
		in       string
		wantID   any // id of the error response
		wantCode float64
		goesOn   bool // a following request is answered
	}{
		{"id null", frame(`{"jsonrpc":"2.0","id":null,"method":"initialize","params":{"protocolVersion":1}}`), nil, -32600, true},
		{"empty body", "Content-Length: 0\r\n\r\n", nil, -32700, false},
		{"white space body", frame("  \n"), nil, -32700, false},
		{"not JSON", frame("not json"), nil, -32700, false},
		{"batch", frame(`[{"jsonrpc":"2.0","id":1,"method":"initialize"}]`), nil, -32600, true},
		{"empty batch", frame(`[]`), nil, -32600, true},
		{"id is an object", frame(`{"jsonrpc":"2.0","id":{"a":1},"method":"initialize"}`), nil, -32600, true},
		{"id is a boolean", frame(`{"jsonrpc":"2.0","id":true,"method":"initialize"}`), nil, -32600, true},
		{"no method", frame(`{"jsonrpc":"2.0","id":3}`), float64(3), -32600, true},
		{"method not a string", frame(`{"jsonrpc":"2.0","id":"s","method":5}`), "s", -32600, true},
		{"a bare value", frame(`42`), nil, -32600, true},
		// jsonrpc2's ID holds strings and uint64: other numbers are refused,
		// echoed as sent, and the connection (with its other requests) goes on.
		{"id 1.5", frame(`{"jsonrpc":"2.0","id":1.5,"method":"initialize"}`), 1.5, -32600, true},
		{"id 1e3", frame(`{"jsonrpc":"2.0","id":1e3,"method":"initialize"}`), float64(1000), -32600, true},
		{"id -1", frame(`{"jsonrpc":"2.0","id":-1,"method":"initialize"}`), float64(-1), -32600, true},
		{"id beyond 64 bits", frame(`{"jsonrpc":"2.0","id":18446744073709551616,"method":"initialize"}`), float64(18446744073709551616), -32600, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inR, inW := io.Pipe()
			outR, outW := io.Pipe()
			srv := NewServer(stubService{}, "test", slog.New(slog.DiscardHandler))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			done := make(chan struct{})
			go func() {
				_ = srv.Serve(ctx, inR, outW)
				_ = outW.Close()
				close(done)
			}()
			defer func() { _ = inW.Close(); _ = outR.Close() }()
			go func() { _, _ = io.WriteString(inW, tc.in) }()

			r := bufio.NewReader(outR)
			var answer map[string]any
			require.NoError(t, Codec{}.ReadObject(r, &answer), "the request is answered")
			assert.Equal(t, "2.0", answer["jsonrpc"])
			id, hasID := answer["id"]
			assert.True(t, hasID, "the response has an id member")
			assert.Equal(t, tc.wantID, id)
			e, ok := answer["error"].(map[string]any)
			require.True(t, ok, "an error response: %v", answer)
			assert.Equal(t, tc.wantCode, e["code"])
			assert.NotEmpty(t, e["message"])

			if !tc.goesOn {
				select {
				case <-done:
				case <-ctx.Done():
					t.Fatal("the connection stayed open after a body that is not JSON")
				}
				return
			}
			go func() { _, _ = io.WriteString(inW, frame(next)) }()
			var after map[string]any
			require.NoError(t, Codec{}.ReadObject(r, &after))
			assert.Equal(t, float64(99), after["id"])
			assert.Nil(t, after["error"])
		})
	}
}
