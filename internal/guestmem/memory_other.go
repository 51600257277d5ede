//go:build !unix

package guestmem

import "github.com/tetratelabs/wazero/experimental"

// newLinearMemory allocates on the Go heap where mapping is not available.
func newLinearMemory(_, _ uint64) (experimental.LinearMemory, error) { return &heapMemory{}, nil }

// heapMemory is a linear memory on the Go heap, as wazero makes it by
// default: where mapping is not available.
type heapMemory struct{ b []byte }

// Reallocate implements experimental.LinearMemory.
func (m *heapMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.b)) {
		m.b = append(m.b, make([]byte, size-uint64(len(m.b)))...)
	}
	return m.b[:size]
}

// Free implements experimental.LinearMemory.
func (m *heapMemory) Free() { m.b = nil }
