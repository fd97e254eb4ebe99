package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, c config)
	}{
		{name: "defaults", args: []string{"--issuer", "http://127.0.0.1:1"}, check: func(t *testing.T, c config) {
			assert.Equal(t, "http://127.0.0.1/gateway", c.audience)
			assert.Equal(t, 0, c.port)
			assert.Equal(t, 3, c.models)
		}},
		{name: "all", args: []string{"--issuer", "http://i", "--audience", "a", "--port", "8080", "--models", "7"}, check: func(t *testing.T, c config) {
			assert.Equal(t, "a", c.audience)
			assert.Equal(t, 8080, c.port)
			assert.Equal(t, 7, c.models)
		}},
		{name: "missing issuer", args: nil, wantErr: "--issuer is required"},
		{name: "bad port", args: []string{"--issuer", "x", "--port", "70000"}, wantErr: "out of range"},
		{name: "negative models", args: []string{"--issuer", "x", "--models", "-1"}, wantErr: "must not be negative"},
		{name: "extra args", args: []string{"--issuer", "x", "extra"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

// TestRunStopsWhenStdinCloses runs the command with pipes, reads the listening line,
// uses the gateway, then closes stdin and expects a clean exit.
func TestRunStopsWhenStdinCloses(t *testing.T) {
	stdinR, stdinW, err := os.Pipe()
	require.NoError(t, err)
	defer func() { _ = stdinR.Close() }()
	stdoutR, stdoutW := io.Pipe()

	done := make(chan error, 1)
	go func() {
		done <- run([]string{"--issuer", "http://127.0.0.1:1", "--models", "5"}, stdinR, stdoutW, io.Discard)
		_ = stdoutW.Close()
	}()

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdoutR)
		if sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stdoutR)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(10 * time.Second):
		t.Fatal("no listening line")
	}
	base, ok := strings.CutPrefix(line, "listening ")
	require.True(t, ok, line)
	assert.True(t, strings.HasPrefix(base, "http://127.0.0.1:"), base)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/_test/stats", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var stats map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&stats))
	require.NoError(t, resp.Body.Close())
	assert.Contains(t, stats, "authorized")

	// Without a token (and with an unreachable issuer) the models are refused.
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/models", nil)
	require.NoError(t, err)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	require.NoError(t, stdinW.Close())
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not stop when stdin closed")
	}
}
