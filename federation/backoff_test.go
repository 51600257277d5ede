package federation

import (
	"context"
	"testing"
	"time"
)

func TestBackoff_Delay(t *testing.T) {
	tests := []struct {
		name        string
		b           Backoff
		attempt     int
		wantCeiling time.Duration
	}{
		{"first", Backoff{Base: 100 * time.Millisecond, Max: 10 * time.Second}, 0, 100 * time.Millisecond},
		{"doubles", Backoff{Base: 100 * time.Millisecond, Max: 10 * time.Second}, 3, 800 * time.Millisecond},
		{"capped", Backoff{Base: 100 * time.Millisecond, Max: time.Second}, 5, time.Second},
		{"no overflow", Backoff{Base: time.Second, Max: time.Minute}, 200, time.Minute},
		{"negative attempt", Backoff{Base: time.Second, Max: time.Minute}, -3, time.Second},
		{"defaults", Backoff{}, 100, DefaultBackoffMax},
		{"base above max", Backoff{Base: time.Hour, Max: time.Second}, 0, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Full jitter: every draw within [0, ceiling], and the draws
			// spread over the range rather than sit at the ceiling.
			var low, high bool
			for range 2000 {
				d := tc.b.Delay(tc.attempt)
				if d < 0 || d > tc.wantCeiling {
					t.Fatalf("Delay(%d) = %s, outside [0, %s]", tc.attempt, d, tc.wantCeiling)
				}
				low = low || d < tc.wantCeiling/4
				high = high || d > tc.wantCeiling*3/4
			}
			if !low || !high {
				t.Errorf("2000 draws did not cover [0, %s] (low %v, high %v): not full jitter", tc.wantCeiling, low, high)
			}
		})
	}
}

func TestJitter(t *testing.T) {
	tests := []struct {
		d        time.Duration
		fraction float64
		lo, hi   time.Duration
	}{
		{time.Minute, 0.1, 54 * time.Second, 66 * time.Second},
		{time.Second, 0, time.Second, time.Second},
		{time.Second, 5, 0, 2 * time.Second}, // clamped to 1
		{0, 0.1, 0, 0},
		{-time.Second, 0.1, -time.Second, -time.Second},
	}
	for _, tc := range tests {
		for range 1000 {
			if got := Jitter(tc.d, tc.fraction); got < tc.lo || got > tc.hi {
				t.Fatalf("Jitter(%s, %v) = %s, outside [%s, %s]", tc.d, tc.fraction, got, tc.lo, tc.hi)
			}
		}
	}
}

// Wait waits at least a Retry-After longer than its own delay, and returns
// as soon as its context ends.
func TestBackoff_Wait(t *testing.T) {
	b := Backoff{Base: time.Millisecond, Max: time.Millisecond}
	start := time.Now()
	if err := b.Wait(context.Background(), 0, 150*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("waited %s, want at least the Retry-After of 150ms", waited)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (Backoff{Base: time.Hour, Max: time.Hour}).Wait(ctx, 5, time.Hour); err != context.Canceled {
		t.Errorf("Wait on a cancelled context = %v, want context.Canceled", err)
	}
}
