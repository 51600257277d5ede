//go:build unix

package runtime

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
	// err is why the last Reallocate failed, for memoryFailure.
	err error
}

// mmap and mprotect are unix.Mmap and unix.Mprotect; tests replace them
// to make the kernel refuse.
var (
	mmap     = unix.Mmap
	mprotect = unix.Mprotect
)

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

// failure implements memoryFailure's interface.
func (m *mappedMemory) failure() error { return m.err }

// Free implements experimental.LinearMemory.
func (m *mappedMemory) Free() { _ = unix.Munmap(m.b) }
