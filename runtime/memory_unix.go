//go:build unix

package runtime

import (
	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// mappedMemory is a linear memory in its own mapping: max bytes reserved,
// the first size of them readable and writable.
type mappedMemory struct {
	b    []byte
	size uint64
}

// newLinearMemory reserves maxBytes, or falls back to the Go heap when the
// kernel refuses the mapping.
func newLinearMemory(_, maxBytes uint64) experimental.LinearMemory {
	b, err := unix.Mmap(-1, 0, int(max(maxBytes, 1)), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
	if err != nil {
		return &heapMemory{}
	}
	return &mappedMemory{b: b}
}

// Reallocate implements experimental.LinearMemory. It never moves the
// memory, and returns nil (memory.grow fails) when the kernel refuses.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.b)) {
		return nil
	}
	if size > m.size {
		if err := unix.Mprotect(m.b[m.size:size], unix.PROT_READ|unix.PROT_WRITE); err != nil {
			return nil
		}
		m.size = size
	}
	return m.b[:size:size]
}

// Free implements experimental.LinearMemory.
func (m *mappedMemory) Free() { _ = unix.Munmap(m.b) }
