package rpc_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/rpc"
)

// TestResultFrames: results are written by the server itself (one encoding
// pass); each answer carries the request's id, number or string, and the
// result, null included.
func TestResultFrames(t *testing.T) {
	s := startPipeSidecar(t, -1)
	w, r := s.client.w, s.client.r
	tests := []struct {
		name   string
		send   string
		expect string
	}{
		{"number id", `{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":1}}`,
			`{"jsonrpc":"2.0","id":7,"result":{"protocolVersion":1,"version":"bench"}}`},
		{"string id", `{"jsonrpc":"2.0","id":"req-8","method":"headers/get","params":{"providerID":"plain"}}`,
			`{"jsonrpc":"2.0","id":"req-8","result":{"headers":{}}}`},
		{"null result", `{"jsonrpc":"2.0","id":9,"method":"shutdown","params":{}}`,
			`{"jsonrpc":"2.0","id":9,"result":null}`},
		{"errors still come from jsonrpc2", `{"jsonrpc":"2.0","id":10,"method":"nope"}`,
			`{"jsonrpc":"2.0","id":10,"error":{"code":-32601,"message":"method not found: nope"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, (rpc.Codec{}).WriteObject(w, json.RawMessage(tc.send)))
			require.NoError(t, w.Flush())
			var got json.RawMessage
			require.NoError(t, (rpc.Codec{}).ReadObject(r, &got))
			assert.JSONEq(t, tc.expect, string(got))
		})
	}
}
