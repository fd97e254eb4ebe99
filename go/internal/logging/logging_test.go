package logging

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/secret"
)

func TestForwardingAndLevels(t *testing.T) {
	var buf bytes.Buffer
	log, sink := NewWithFile(&buf, slog.LevelInfo, nil, 0)
	var got []Record
	sink.SetForwarder(func(r Record) { got = append(got, r) })

	log.Debug("hidden")
	log.With("provider", "acme").WithGroup("http").Warn("slow", "status", 503, "took", 1500)
	log.Error("failed", "err", errors.New("boom"))

	require.Len(t, got, 2)
	assert.Equal(t, Record{Level: "warn", Message: "slow", Extra: map[string]any{"provider": "acme", "http.status": int64(503), "http.took": int64(1500)}}, got[0])
	assert.Equal(t, "error", got[1].Level)
	assert.Equal(t, "boom", got[1].Extra["err"])
	assert.NotContains(t, buf.String(), "hidden")

	sink.SetLevel(slog.LevelDebug)
	log.Debug("shown")
	assert.Len(t, got, 3)
	sink.SetForwarder(nil)
	log.Info("not forwarded")
	assert.Len(t, got, 3)
	assert.Contains(t, buf.String(), "not forwarded")
}

func TestSecretsNeverReachAnySink(t *testing.T) {
	const canary = "tok-canary-2b7e151628aed2a6"
	var buf bytes.Buffer
	log, sink := NewWithFile(&buf, slog.LevelDebug, nil, 0)
	var fwd bytes.Buffer
	sink.SetForwarder(func(r Record) { fmt.Fprintf(&fwd, "%v %v %v", r.Level, r.Message, r.Extra) })
	s := secret.New(canary)
	log.Debug("token", "access_token", s, "group", slog.GroupValue(slog.Any("rt", s)))
	log.Info("wrapped", "err", fmt.Errorf("refresh with %v failed", s))
	assert.NotContains(t, buf.String(), canary)
	assert.NotContains(t, fwd.String(), canary)
	assert.Contains(t, fwd.String(), secret.Redacted)
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in   string
		want slog.Level
		ok   bool
	}{
		{"DEBUG", slog.LevelDebug, true},
		{"trace", slog.LevelDebug, true},
		{"INFO", slog.LevelInfo, true},
		{"WARN", slog.LevelWarn, true},
		{"Warning", slog.LevelWarn, true},
		{"error", slog.LevelError, true},
		{"", slog.LevelInfo, false},
		{"loud", slog.LevelInfo, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := ParseLevel(tc.in)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.ok, ok)
		})
	}
}
