package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/rpc"
)

func TestEchoAnswersWithTheParams(t *testing.T) {
	tests := []struct {
		name   string
		result string
		frames []string
		want   []string
	}{
		{"one request", "", []string{`{"jsonrpc":"2.0","id":1,"method":"headers/get","params":{"providerID":"gw"}}`},
			[]string{`{"jsonrpc":"2.0","id":1,"result":{"providerID":"gw"}}`}},
		{"string id, no params", "", []string{`{"jsonrpc":"2.0","id":"a","method":"shutdown"}`},
			[]string{`{"jsonrpc":"2.0","id":"a","result":null}`}},
		{"canned result", `{"headers":{}}`, []string{`{"jsonrpc":"2.0","id":3,"method":"headers/get","params":{"providerID":"gw"}}`},
			[]string{`{"jsonrpc":"2.0","id":3,"result":{"headers":{}}}`}},
		{"two requests", "", []string{`{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}`, `{"jsonrpc":"2.0","id":2,"method":"x","params":[2]}`},
			[]string{`{"jsonrpc":"2.0","id":1,"result":[1]}`, `{"jsonrpc":"2.0","id":2,"result":[2]}`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var in, out bytes.Buffer
			for _, f := range tc.frames {
				require.NoError(t, (rpc.Codec{}).WriteObject(&in, json.RawMessage(f)))
			}
			var result json.RawMessage
			if tc.result != "" {
				result = json.RawMessage(tc.result)
			}
			require.ErrorIs(t, echo(&in, &out, result), io.EOF, "echo ends when its input does")
			r := bufio.NewReader(&out)
			for _, want := range tc.want {
				var got json.RawMessage
				require.NoError(t, (rpc.Codec{}).ReadObject(r, &got))
				assert.JSONEq(t, want, string(got))
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    memStatus
		wantErr bool
	}{
		{"linux status", "Name:\topencode-oauth2\nVmHWM:\t   18368 kB\nVmRSS:\t   17720 kB\nThreads:\t11\n",
			memStatus{rss: 17720 << 10, hwm: 18368 << 10, threads: 11}, false},
		{"no memory lines", "Name:\tx\nThreads:\t1\n", memStatus{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatus([]byte(tc.status))
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"median of odd count", ms(3, 1, 2), 0.5, 2 * time.Millisecond},
		{"median of even count (lower)", ms(4, 1, 3, 2), 0.5, 2 * time.Millisecond},
		{"p99 of 100 is the 99th", ms(seq(100)...), 0.99, 99 * time.Millisecond},
		{"p99 of 10 is the largest", ms(seq(10)...), 0.99, 10 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, percentile(tc.samples, tc.q))
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = n - i
	}
	return out
}

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"no command", nil, 2, "usage: perf-probe"},
		{"unknown command", []string{"nope"}, 2, `unknown command "nope"`},
		{"help", []string{"help"}, 0, "usage: perf-probe"},
		{"bad rss flags", []string{"rss", "-users", "0"}, 1, "must be at least 1"},
		{"echo result not JSON", []string{"echo", "-result", "{"}, 1, "-result is not JSON"},
		{"echo until EOF", []string{"echo"}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tc.args, strings.NewReader(""), &out, &errOut)
			assert.Equal(t, tc.wantCode, code)
			assert.Contains(t, out.String()+errOut.String(), tc.wantOut)
		})
	}
}
