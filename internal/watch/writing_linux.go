//go:build linux

package watch

import "golang.org/x/sys/unix"

// openForWriting reports whether some process has the file at path open
// for writing, such as a copy or a download still in progress that paused
// longer than the quiet period. It asks for a read lease and gives it back
// at once: Linux refuses a read lease with EAGAIN exactly when the file is
// open for writing. Where leases are not available (a file the neuron's
// user neither owns nor has CAP_LEASE for, a file system without leases) it
// reports false, and the stability check alone decides. See docs/design.md,
// "How does the neuron notice a new processor file?".
func openForWriting(path string) bool {
	// O_NONBLOCK: opening a FIFO must not wait for a writer.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_RDLCK); err != nil {
		return err == unix.EAGAIN
	}
	// Held for microseconds: a writer opening the file meanwhile waits
	// that long (and the lease-break SIGIO is ignored by Go programs).
	_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
	return false
}
