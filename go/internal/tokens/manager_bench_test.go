package tokens_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vymalo/opencode-oauth2/go/internal/tokens"
)

// batch is how many calls one latency sample covers: a call on the hot path
// takes well under a microsecond, below what timing a single call resolves.
const batch = 100

// BenchmarkTokenFresh measures Manager.Token when the token in memory is
// fresh: the hot path of every request. p50-ns and p99-ns are per call,
// from samples of 100 consecutive calls.
func BenchmarkTokenFresh(b *testing.B) {
	ep := startTokenEndpoint(b, 0, 3600)
	m := newManager(b, ep, machine, b.TempDir(), managerOptions{writeBehind: true})
	ctx := context.Background()
	_, err := m.Token(ctx, tokens.NoLogin)
	require.NoError(b, err)
	samples := make([]time.Duration, 0, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	for i := range b.N {
		if _, err := m.Token(ctx, tokens.NoLogin); err != nil {
			b.Fatal(err)
		}
		if (i+1)%batch == 0 {
			now := time.Now()
			samples = append(samples, now.Sub(t0)/batch)
			t0 = now
		}
	}
	b.StopTimer()
	if len(samples) > 0 {
		b.ReportMetric(float64(percentile(samples, 0.50).Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(percentile(samples, 0.99).Nanoseconds()), "p99-ns")
	}
	if n := ep.requests.Load(); n != 1 {
		b.Fatalf("%d token requests; a fresh token must be served from memory", n)
	}
}

// BenchmarkExpiredTokenConcurrentCallers: 200 callers arrive at once on an
// expired token; the token endpoint answers after 20 ms. Each iteration is
// one such burst on a new manager (state file, lock, real OAuth client),
// with the cache write behind the answers (as the sidecar runs) or before.
// extra-ms is how long the last of the 200 callers waited beyond the time
// the endpoint took (20 ms and the machine's timer slack, measured in its
// handler): p50 and p99 over iterations; the target is ≤ 5 ms;
// requests/op must be 1.
func BenchmarkExpiredTokenConcurrentCallers(b *testing.B) {
	const (
		callers = 200
		latency = 20 * time.Millisecond
	)
	cases := []struct {
		name        string
		kind        grantKind
		writeBehind bool
	}{
		{"refresh_token/write-behind", userRefresh, true},
		{"refresh_token/write-through", userRefresh, false},
		{"client_credentials/write-behind", machine, true},
		{"client_credentials/write-through", machine, false},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			ep := startTokenEndpoint(b, latency, 3600)
			extra := make([]time.Duration, 0, b.N)
			for range b.N {
				b.StopTimer()
				m := newManager(b, ep, tc.kind, b.TempDir(), managerOptions{writeBehind: tc.writeBehind})
				start := make(chan struct{})
				var ready, done sync.WaitGroup
				var mu sync.Mutex
				var last time.Time
				for range callers {
					ready.Add(1)
					done.Add(1)
					go func() {
						defer done.Done()
						ready.Done()
						<-start
						if _, err := m.Token(context.Background(), tokens.NoLogin); err != nil {
							b.Error(err)
						}
						end := time.Now()
						mu.Lock()
						if end.After(last) {
							last = end
						}
						mu.Unlock()
					}()
				}
				ready.Wait()
				b.StartTimer()
				t0 := time.Now()
				close(start)
				done.Wait()
				b.StopTimer()
				// The endpoint's own time, timer slack included, is its latency.
				extra = append(extra, last.Sub(t0)-time.Duration(ep.served.Load()))
				if err := m.Flush(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(ep.requests.Load())/float64(b.N), "requests/op")
			b.ReportMetric(ms(percentile(extra, 0.50)), "extra-p50-ms")
			b.ReportMetric(ms(percentile(extra, 0.99)), "extra-p99-ms")
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile is the nearest-rank percentile of samples (sorted in place).
func percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	slices.Sort(samples)
	i := int(float64(len(samples))*p+0.999999) - 1
	return samples[min(max(i, 0), len(samples)-1)]
}
