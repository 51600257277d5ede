package runtime

import (
	"fmt"
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
//
// A memory that cannot be had (the kernel refuses the mapping: the process
// is out of address space or memory maps) fails its instance with the
// reason, never the process: see failedMemory, and docs/design.md, "What
// happens when guest memory cannot be mapped?".
var linearMemory experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(func(capBytes, maxBytes uint64) experimental.LinearMemory {
	m, err := newLinearMemory(capBytes, maxBytes)
	if err != nil {
		return &failedMemory{err: err}
	}
	liveMemories.Add(1)
	return &countedMemory{LinearMemory: m}
})

// failedMemory is a linear memory that could not be allocated. Its
// Reallocate fails; wazero, which has no way to report that at
// instantiation, panics on the nil it gets (instantiateModule recovers),
// and memoryFailure gives instantiate the reason.
type failedMemory struct{ err error }

// Reallocate implements experimental.LinearMemory.
func (m *failedMemory) Reallocate(uint64) []byte { return nil }

// Free implements experimental.LinearMemory.
func (m *failedMemory) Free() {}

// memoryFailure returns why m, as linearMemory allocated it, failed to
// allocate or to make its initial size accessible, or nil.
func memoryFailure(m experimental.LinearMemory) error {
	if c, ok := m.(*countedMemory); ok {
		m = c.LinearMemory
	}
	var err error
	switch m := m.(type) {
	case *failedMemory:
		err = m.err
	case interface{ failure() error }:
		err = m.failure()
	}
	if err != nil {
		return fmt.Errorf("guest memory: %w: the process is out of address space or memory maps; lower poolMax or memoryPages (maxLimits bounds what a manifest may ask)", err)
	}
	return nil
}

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
