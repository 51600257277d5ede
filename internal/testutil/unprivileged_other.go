//go:build !unix

package testutil

import "testing"

// RunUnprivileged returns false outside Unix: there is no root to step
// down from, and the test goes on in this process.
func RunUnprivileged(t *testing.T) bool { return false }
