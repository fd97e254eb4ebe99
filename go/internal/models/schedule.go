package models

import (
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Scheduling bounds and defaults.
const (
	MinInterval    = time.Minute        // shorter intervals are raised to this
	MaxInterval    = 7 * 24 * time.Hour // longer intervals are lowered to this
	DefaultBackoff = 15 * time.Second   // first retry delay after a failure
)

// Scheduler re-runs a provider's model sync in the background. Run waits,
// calls the sync, and repeats: an Interval after a success, and after a
// failure a backoff that starts at Backoff, doubles with every consecutive
// failure and is capped at Interval, jittered to between half and all of
// that value so that processes sharing a gateway spread out.
//
// The sync runs in the background: it must never prompt the user (no
// browser, no device code); a token that needs a login is a failure.
type Scheduler struct {
	// Interval between syncs after a success, bounded to
	// [MinInterval, MaxInterval]. Required.
	Interval time.Duration
	// Backoff is the first retry delay; 0 means DefaultBackoff.
	Backoff time.Duration
	// Failures counts consecutive failures before Run, e.g. 1 when a
	// warm-up sync just failed: the first wait is then a backoff instead
	// of a whole interval.
	Failures int
	// Sleep waits d or until ctx is done, returning ctx's error then.
	// nil means a timer; tests inject a recorder.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) for the jitter; nil means
	// math/rand/v2.Float64.
	Rand func() float64
	// Report, if set, is called after every sync (for logging).
	Report func(Attempt)
}

// Attempt describes one finished sync.
type Attempt struct {
	Err      error         // the sync's error, nil on success
	Failures int           // consecutive failures so far (0 after a success)
	Next     time.Duration // the wait before the next sync
}

// Run syncs until ctx is done and then returns ctx's error. A sync that
// returns after ctx was cancelled ends Run without a report. Run returns
// at once with an error if Interval is not positive.
func (s Scheduler) Run(ctx context.Context, sync func(context.Context) error) error {
	if s.Interval <= 0 {
		return errors.New("models: scheduler interval must be positive")
	}
	sleep, jitter := s.Sleep, s.Rand
	if sleep == nil {
		sleep = sleepTimer
	}
	if jitter == nil {
		jitter = rand.Float64
	}
	failures := max(s.Failures, 0)
	wait := s.Delay(failures, jitter())
	for {
		if err := cmp.Or(sleep(ctx, wait), ctx.Err()); err != nil {
			return err
		}
		err := sync(ctx)
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			failures++
		} else {
			failures = 0
		}
		wait = s.Delay(failures, jitter())
		if s.Report != nil {
			s.Report(Attempt{Err: err, Failures: failures, Next: wait})
		}
	}
}

// Delay is the wait before the next sync after the given number of
// consecutive failures, for a jitter value r in [0, 1): the interval when
// failures is 0, else Backoff·2^(failures−1) capped at the interval and
// scaled by (1+r)/2. It never overflows, whatever failures is.
func (s Scheduler) Delay(failures int, r float64) time.Duration {
	interval := min(max(s.Interval, MinInterval), MaxInterval)
	if failures <= 0 {
		return interval
	}
	d := cmp.Or(max(s.Backoff, 0), DefaultBackoff)
	for i := 1; i < failures && d < interval; i++ {
		d *= 2 // d < interval ≤ MaxInterval: no overflow
	}
	d = min(d, interval)
	if r < 0 || r >= 1 || r != r {
		r = 0
	}
	return d/2 + time.Duration(r*float64(d/2))
}

func sleepTimer(ctx context.Context, d time.Duration) error {
	select { // an unstopped timer is collected once unreachable (Go 1.23)
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
