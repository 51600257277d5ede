//go:build linux

package testutil

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel send sig to cmd's process when the test
// binary dies, however it dies, so no server outlives the tests that
// started it. Call it before spawn.
func dieWithParent(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = sig
}
