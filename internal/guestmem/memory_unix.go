//go:build unix

package guestmem

import (
	"fmt"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// mappedMemory is a linear memory in its own mapping: max bytes reserved,
// the first size of them readable and writable.
type mappedMemory struct {
	b    []byte
	size uint64
	// err is why the last Reallocate failed, for Failure.
	err error
}

// mmap and mprotect are unix.Mmap and unix.Mprotect; tests replace them
// to make the kernel refuse (see RefuseForTest).
var (
	mmap     = unix.Mmap
	mprotect = unix.Mprotect
)

// RefuseForTest makes the kernel refuse every guest memory of the process
// from now on, with ENOMEM: at reservation (mmap) when reserve is true,
// else when a memory is made accessible (mprotect). It returns the
// function that restores the kernel's calls. It is for tests of the
// instantiation path, in this package and the runtime's, which must not
// run in parallel with others while it is in effect.
func RefuseForTest(reserve bool) (restore func()) {
	savedMmap, savedMprotect := mmap, mprotect
	if reserve {
		mmap = func(int, int64, int, int, int) ([]byte, error) { return nil, unix.ENOMEM }
	} else {
		mprotect = func([]byte, int) error { return unix.ENOMEM }
	}
	return func() { mmap, mprotect = savedMmap, savedMprotect }
}

// newLinearMemory reserves maxBytes. When the kernel refuses, the instance
// fails: a fallback on the Go heap would turn the same shortage into a
// fatal, unrecoverable out-of-memory error of the whole process.
func newLinearMemory(_, maxBytes uint64) (experimental.LinearMemory, error) {
	b, err := mmap(-1, 0, int(max(maxBytes, 1)), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("reserve %d bytes: mmap: %w", maxBytes, err)
	}
	return &mappedMemory{b: b}, nil
}

// Reallocate implements experimental.LinearMemory. It never moves the
// memory, and returns nil (memory.grow fails) when the kernel refuses.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.b)) {
		return nil
	}
	if size > m.size {
		if err := mprotect(m.b[m.size:size], unix.PROT_READ|unix.PROT_WRITE); err != nil {
			m.err = fmt.Errorf("make %d bytes accessible: mprotect: %w", size, err)
			return nil
		}
		m.size = size
	}
	return m.b[:size:size]
}

// failure implements Failure's interface.
func (m *mappedMemory) failure() error { return m.err }

// Free implements experimental.LinearMemory.
func (m *mappedMemory) Free() { _ = unix.Munmap(m.b) }
