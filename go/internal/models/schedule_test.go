package models

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock records the delays Run asks for and never really sleeps.
type fakeClock struct {
	delays []time.Duration
	cancel context.CancelFunc
	stopAt int // cancel when this many delays were requested
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	c.delays = append(c.delays, d)
	if len(c.delays) >= c.stopAt {
		c.cancel()
	}
	return ctx.Err()
}

// script returns a sync func that returns the given results in turn.
func script(results ...error) (func(context.Context) error, *int) {
	calls := 0
	return func(context.Context) error {
		err := results[calls%len(results)]
		calls++
		return err
	}, &calls
}

var errGateway = errors.New("gateway down")

func TestSchedulerDelaySequence(t *testing.T) {
	tests := []struct {
		name     string
		s        Scheduler
		results  []error
		stopAt   int
		want     []time.Duration
		failures []int
	}{
		{"success keeps the interval", Scheduler{Interval: 10 * time.Minute}, []error{nil}, 3,
			[]time.Duration{10 * time.Minute, 10 * time.Minute, 10 * time.Minute}, []int{0, 0}},
		{"failures back off exponentially up to the interval, success resets",
			Scheduler{Interval: 2 * time.Minute},
			[]error{errGateway, errGateway, errGateway, errGateway, errGateway, nil, errGateway}, 8,
			[]time.Duration{2 * time.Minute, 15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 2 * time.Minute, 2 * time.Minute, 15 * time.Second},
			[]int{1, 2, 3, 4, 5, 0, 1}},
		{"a failed warm-up starts with the backoff", Scheduler{Interval: time.Hour, Failures: 1, Backoff: time.Second}, []error{nil}, 2,
			[]time.Duration{time.Second, time.Hour}, []int{0}},
		{"a backoff above the interval is capped", Scheduler{Interval: time.Minute, Backoff: time.Hour}, []error{errGateway}, 3,
			[]time.Duration{time.Minute, time.Minute, time.Minute}, []int{1, 2}},
		{"tiny intervals are raised", Scheduler{Interval: time.Nanosecond}, []error{nil}, 2,
			[]time.Duration{MinInterval, MinInterval}, []int{0}},
		{"huge intervals are lowered", Scheduler{Interval: math.MaxInt64}, []error{nil}, 2,
			[]time.Duration{MaxInterval, MaxInterval}, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			clock := &fakeClock{cancel: cancel, stopAt: tt.stopAt}
			var failures []int
			s := tt.s
			s.Sleep = clock.sleep
			s.Rand = func() float64 { return 0.999999999999 } // the top of the jitter range
			s.Report = func(a Attempt) { failures = append(failures, a.Failures) }
			sync, calls := script(tt.results...)

			err := s.Run(ctx, sync)

			require.ErrorIs(t, err, context.Canceled)
			require.Len(t, clock.delays, len(tt.want))
			for i := range tt.want {
				assert.InDelta(t, float64(tt.want[i]), float64(clock.delays[i]), float64(time.Millisecond), "delay %d", i)
			}
			assert.Equal(t, tt.failures, failures)
			assert.Equal(t, tt.stopAt-1, *calls)
		})
	}
}

func TestSchedulerJitter(t *testing.T) {
	s := Scheduler{Interval: time.Hour}
	assert.Equal(t, time.Hour, s.Delay(0, 0.5), "no jitter after a success")
	assert.Equal(t, 7500*time.Millisecond, s.Delay(1, 0), "half of the backoff at least")
	assert.Equal(t, 11250*time.Millisecond, s.Delay(1, 0.5))
	assert.Equal(t, 15*time.Second, s.Delay(2, 0))
	for _, r := range []float64{-1, 1, 2, math.NaN(), math.Inf(1)} {
		assert.Equal(t, 7500*time.Millisecond, s.Delay(1, r), "out-of-range jitter %v", r)
	}
	for _, f := range []int{8, 64, 1000, math.MaxInt} {
		d := s.Delay(f, 0.999)
		assert.LessOrEqual(t, d, time.Hour, "failures %d", f)
		assert.GreaterOrEqual(t, d, 30*time.Minute, "failures %d", f)
	}
}

func TestSchedulerReportsErrorsAndNextDelay(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := &fakeClock{cancel: cancel, stopAt: 3}
	var attempts []Attempt
	s := Scheduler{Interval: time.Hour, Sleep: clock.sleep, Rand: func() float64 { return 0 }, Report: func(a Attempt) { attempts = append(attempts, a) }}
	sync, _ := script(errGateway, nil)
	require.ErrorIs(t, s.Run(ctx, sync), context.Canceled)
	assert.Equal(t, []Attempt{{Err: errGateway, Failures: 1, Next: 7500 * time.Millisecond}, {Failures: 0, Next: time.Hour}}, attempts)
}

func TestSchedulerStopsWhenCancelledDuringSync(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reported := false
	s := Scheduler{Interval: time.Hour, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
		Report: func(Attempt) { reported = true }}
	calls := 0
	err := s.Run(ctx, func(context.Context) error {
		calls++
		cancel()
		return context.Canceled
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, calls)
	assert.False(t, reported, "a cancelled sync is not a failure")
}

func TestSchedulerWithRealTimer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	err := Scheduler{Interval: time.Hour}.Run(ctx, func(context.Context) error { calls++; return nil })
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, calls)
	assert.NoError(t, sleepTimer(context.Background(), time.Nanosecond))
}

func TestSchedulerRejectsNonPositiveInterval(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		err := Scheduler{Interval: d}.Run(context.Background(), func(context.Context) error { return nil })
		assert.ErrorContains(t, err, "interval must be positive")
	}
}
