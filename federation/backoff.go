package federation

import (
	"context"
	"math/rand/v2"
	"time"
)

// Default retry bounds: the first retry comes within a second, and a
// federation that stays away is asked at most about once a minute.
const (
	DefaultBackoffBase = time.Second
	DefaultBackoffMax  = time.Minute
)

// Backoff spaces out retries: exponential growth from Base, capped at Max,
// with full jitter so that a fleet of neurons that lost the federation at
// the same moment does not come back in lockstep. The zero value uses
// DefaultBackoffBase and DefaultBackoffMax.
type Backoff struct {
	Base, Max time.Duration
}

// Delay returns how long to wait before retry number attempt (0 for the
// first): uniform in [0, min(Max, Base·2^attempt)].
func (b Backoff) Delay(attempt int) time.Duration {
	base, ceiling := b.bounds()
	d := ceiling
	if attempt < 0 {
		attempt = 0
	}
	if attempt < 62 && base <= ceiling>>attempt {
		d = base << attempt
	}
	return rand.N(d + 1)
}

// Wait blocks for Delay(attempt), or for retryAfter when the federation asked
// for longer, and returns early with ctx's error when ctx ends.
func (b Backoff) Wait(ctx context.Context, attempt int, retryAfter time.Duration) error {
	return sleep(ctx, max(b.Delay(attempt), retryAfter))
}

// bounds returns Base and Max with defaults applied and Base ≤ Max.
func (b Backoff) bounds() (base, ceiling time.Duration) {
	base, ceiling = b.Base, b.Max
	if base <= 0 {
		base = DefaultBackoffBase
	}
	if ceiling <= 0 {
		ceiling = DefaultBackoffMax
	}
	return min(base, ceiling), ceiling
}

// Jitter returns d spread uniformly by ±fraction (clamped to [0, 1]):
// Jitter(time.Minute, 0.1) is between 54s and 66s. Periodic loops use it so
// that neurons started together do not call the federation together.
func Jitter(d time.Duration, fraction float64) time.Duration {
	fraction = min(max(fraction, 0), 1)
	spread := time.Duration(float64(d) * fraction)
	if d <= 0 || spread <= 0 {
		return d
	}
	return d - spread + rand.N(2*spread+1)
}

// sleep waits for d or until ctx ends, returning ctx's error in that case.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
