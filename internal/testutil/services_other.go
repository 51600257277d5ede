//go:build !linux

package testutil

import (
	"os/exec"
	"syscall"
)

// dieWithParent does nothing outside Linux, which has no parent-death
// signal: a server started by a test that is killed outlives it there.
func dieWithParent(*exec.Cmd, syscall.Signal) {}
