package runtime

import (
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// linearMemory allocates every guest's linear memory. Where the platform
// allows it, the memory is mapped outside the Go heap (memory_unix.go):
// the guest's whole maximum is reserved at once, without access or
// backing, and growing makes more of it accessible where it is. Compared
// to wazero's default, a []byte on the Go heap, a grow never copies the
// memory (a Go guest grows its heap a few times in its first calls), the
// host's garbage collector neither scans nor counts guest memory, and a
// closed instance's pages go straight back to the kernel. See
// docs/design.md, "Why map guest memory outside the Go heap?".
var linearMemory experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(func(capBytes, maxBytes uint64) experimental.LinearMemory {
	liveMemories.Add(1)
	return &countedMemory{LinearMemory: newLinearMemory(capBytes, maxBytes)}
})

// liveMemories and liveMemoryBytes count the linear memories of the
// process allocated and not freed yet, and their accessible bytes. They
// live outside the Go heap, where neither a heap check nor Go's memory
// metrics see them: leak checks (tests) count them here, and operators see
// the bytes as neuron_guest_memory_bytes.
var liveMemories, liveMemoryBytes atomic.Int64

// countedMemory counts its memory in liveMemories and liveMemoryBytes, and
// frees it once. Free may be called twice: by wazero when the instance
// closes, and by instantiate when instantiation failed after allocating.
type countedMemory struct {
	experimental.LinearMemory
	size uint64
	free sync.Once
}

// Reallocate implements experimental.LinearMemory.
func (m *countedMemory) Reallocate(size uint64) []byte {
	b := m.LinearMemory.Reallocate(size)
	if b != nil && size > m.size {
		liveMemoryBytes.Add(int64(size - m.size))
		m.size = size
	}
	return b
}

// Free implements experimental.LinearMemory.
func (m *countedMemory) Free() {
	m.free.Do(func() {
		m.LinearMemory.Free()
		liveMemories.Add(-1)
		liveMemoryBytes.Add(-int64(m.size))
	})
}

// heapMemory is a linear memory on the Go heap, as wazero makes it by
// default: where mapping is not available or fails.
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
