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

// liveMemories counts the linear memories of the process allocated and not
// freed yet. They live outside the Go heap, where no heap check sees them,
// so leak checks (tests) count them here.
var liveMemories atomic.Int64

// countedMemory frees its memory once and counts it in liveMemories. Free
// may be called twice: by wazero when the instance closes, and by
// instantiate when instantiation failed after allocating.
type countedMemory struct {
	experimental.LinearMemory
	free sync.Once
}

// Free implements experimental.LinearMemory.
func (m *countedMemory) Free() {
	m.free.Do(func() {
		m.LinearMemory.Free()
		liveMemories.Add(-1)
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
