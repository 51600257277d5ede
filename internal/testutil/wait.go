package testutil

import (
	"testing"
	"time"
)

// Eventually polls cond every few milliseconds until it holds, failing the
// test once limit has passed. Tests wait with it rather than sleep for a
// guessed time.
func Eventually(tb testing.TB, limit time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting for %s after %s", what, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
