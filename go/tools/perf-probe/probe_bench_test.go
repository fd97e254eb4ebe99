package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// binaries builds the sidecar and this program (the echo peer) with the
// release flags into a temporary directory (the go build cache makes the
// second and later builds a link).
func binaries(b *testing.B) (sidecar, probe string) {
	b.Helper()
	dir := b.TempDir()
	ctx := context.Background()
	sidecar, err := build(ctx, sidecarPkg, dir, "opencode-oauth2")
	require.NoError(b, err)
	probe, err = build(ctx, "github.com/vymalo/opencode-oauth2/go/tools/perf-probe", dir, "perf-probe")
	require.NoError(b, err)
	return sidecar, probe
}

// machineProvider is a client_credentials provider of the stub (tokens valid
// for an hour, the stub's 500-model list).
func (s *stub) machineProvider() map[string]any {
	return map[string]any{"options": map[string]any{
		"baseURL": s.url + "/gw/v1",
		"oauth2": map[string]any{
			"issuer": s.url, "clientId": "perf", "clientSecret": "perf-secret", "authFlow": "client_credentials",
			"tokenEndpoint": s.url + "/token", "scopes": []string{"api"},
		},
	}}
}

// startSidecar runs `serve` with a fresh cache, initializes it and applies a
// config with one managed provider "gw"; it returns once the provider's
// token and model list are in (bounded).
func startSidecar(b *testing.B, bin string, s *stub) *peer {
	b.Helper()
	p, err := startPeer(bin, []string{"serve"}, []string{"OPENCODE_OAUTH2_CACHE_DIR=" + filepath.Join(b.TempDir(), "cache")}, nil)
	require.NoError(b, err)
	b.Cleanup(func() { _ = p.stop(10 * time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(b, p.initialize(ctx))
	_, err = p.call(ctx, "config/apply", map[string]any{"config": map[string]any{"provider": map[string]any{"gw": s.machineProvider()}}})
	require.NoError(b, err)
	require.True(b, waitUntil(ctx, func() bool { return s.others.Load() >= 1 }), "the model sync did not happen")
	return p
}

// startEcho runs the floor peer answering with a headers/get result of the
// same shape and size as the sidecar's (the stub's JWT-sized token).
func startEcho(b *testing.B, bin string) *peer {
	b.Helper()
	result, err := json.Marshal(map[string]any{
		"headers":    map[string]string{"Authorization": "Bearer " + machineToken(1)},
		"cacheUntil": time.Now().Add(5 * time.Minute).UnixMilli(),
	})
	require.NoError(b, err)
	p, err := startPeer(bin, []string{"echo", "-result", string(result)}, nil, os.Stderr)
	require.NoError(b, err)
	b.Cleanup(func() { _ = p.stop(10 * time.Second) })
	return p
}

var headersParams = map[string]any{"providerID": "gw", "modelID": "vendor-1/model-0001-instruct"}

// BenchmarkProcessRoundTrip measures headers/get against the real sidecar
// binary over its stdin/stdout pipes, one request in flight at a time, as
// the shim sends it, and the floor: this program's `echo`, a bare JSON peer
// with the same framing answering with a canned result of the same size,
// over the same kind of pipes. interleaved alternates
// the two so that both see the same machine load and reports the ratios
// (x-floor-p50, x-floor-p99; the target is ≤ 3).
func BenchmarkProcessRoundTrip(b *testing.B) {
	sidecarBin, probeBin := binaries(b)
	measure := func(b *testing.B, peers ...*peer) [][]time.Duration {
		b.Helper()
		ctx := context.Background()
		for range 200 { // warm up
			for _, p := range peers {
				_, err := p.call(ctx, "headers/get", headersParams)
				require.NoError(b, err)
			}
		}
		lat := make([][]time.Duration, len(peers))
		b.ResetTimer()
		for b.Loop() {
			for i, p := range peers {
				t0 := time.Now()
				if _, err := p.call(ctx, "headers/get", headersParams); err != nil {
					b.Fatal(err)
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}
		b.StopTimer()
		return lat
	}
	report := func(b *testing.B, lat []time.Duration, prefix string) (p50, p99 time.Duration) {
		p50, p99 = percentile(lat, 0.50), percentile(lat, 0.99)
		b.ReportMetric(float64(p50.Nanoseconds()), prefix+"p50-ns")
		b.ReportMetric(float64(p99.Nanoseconds()), prefix+"p99-ns")
		return p50, p99
	}
	b.Run("floor", func(b *testing.B) {
		lat := measure(b, startEcho(b, probeBin))
		report(b, lat[0], "")
	})
	b.Run("headers-get/fresh", func(b *testing.B) {
		s, err := startStub(500, 3600)
		require.NoError(b, err)
		b.Cleanup(s.close)
		lat := measure(b, startSidecar(b, sidecarBin, s))
		report(b, lat[0], "")
		if n := s.machine.Load(); n != 1 {
			b.Fatalf("%d token requests; a fresh token must be served from memory", n)
		}
	})
	b.Run("interleaved", func(b *testing.B) {
		s, err := startStub(500, 3600)
		require.NoError(b, err)
		b.Cleanup(s.close)
		lat := measure(b, startEcho(b, probeBin), startSidecar(b, sidecarBin, s))
		f50, f99 := report(b, lat[0], "floor-")
		r50, r99 := report(b, lat[1], "")
		if f50 > 0 && f99 > 0 {
			b.ReportMetric(float64(r50)/float64(f50), "x-floor-p50")
			b.ReportMetric(float64(r99)/float64(f99), "x-floor-p99")
		}
	})
}

// BenchmarkStartup measures the time from spawning the sidecar to its answer
// to initialize (the shim's first request), and the same for this
// program's echo (the cost of starting any Go binary and one round trip).
// The processes are stopped outside the timed part.
func BenchmarkStartup(b *testing.B) {
	sidecarBin, probeBin := binaries(b)
	cases := []struct {
		name string
		bin  string
		args []string
	}{
		{"serve", sidecarBin, []string{"serve"}},
		{"floor", probeBin, []string{"echo"}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			env := []string{"OPENCODE_OAUTH2_CACHE_DIR=" + filepath.Join(b.TempDir(), "cache")}
			lat := make([]time.Duration, 0, 64)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				p, err := startPeer(tc.bin, tc.args, env, os.Stderr)
				if err != nil {
					b.Fatal(err)
				}
				err = p.initialize(ctx)
				lat = append(lat, time.Since(t0))
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if err := p.stop(10 * time.Second); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(percentile(lat, 0.50))/1e6, "p50-ms")
			b.ReportMetric(float64(percentile(lat, 0.99))/1e6, "p99-ms")
		})
	}
}
