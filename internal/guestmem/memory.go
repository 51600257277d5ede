// Package guestmem owns the linear memory of guest instances: each mapped
// outside the Go heap where the platform allows it, and counted, with its
// bytes, by the Allocator that made it, so that a leak check or the
// neuron_guest_memory_bytes metric sees one runtime's memories and no
// other's. It knows nothing of modules, instances or calls: the runtime
// hands an Allocator to wazero when it instantiates a module, and must not
// reach into a memory but through wazero's experimental.LinearMemory.
package guestmem

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// Allocator allocates the linear memories of one owner's guests (a
// runtime's) and counts those allocated and not freed yet, and their
// accessible bytes. Where the platform allows it, a memory is mapped
// outside the Go heap (memory_unix.go): the guest's whole maximum is
// reserved at once, without access or backing, and growing makes more of
// it accessible where it is. Compared to wazero's default, a []byte on the
// Go heap, a grow never copies the memory (a Go guest grows its heap a few
// times in its first calls), the host's garbage collector neither scans
// nor counts guest memory, and a closed instance's pages go straight back
// to the kernel. See docs/design.md, "Why map guest memory outside the Go
// heap?".
//
// A memory that cannot be had (the kernel refuses the mapping: the process
// is out of address space or memory maps) fails its instance with the
// reason, never the process: see Failure, and docs/design.md, "What
// happens when guest memory cannot be mapped?".
//
// The counts live outside the Go heap, where neither a heap check nor Go's
// memory metrics see them: leak checks (tests) read them here, and
// operators see the bytes as neuron_guest_memory_bytes. Each Allocator
// counts its own, so that two runtimes in one process (tests, an embedded
// federation) do not see each other's. The zero value is ready to use.
type Allocator struct {
	live, bytes atomic.Int64
}

// Allocate implements experimental.MemoryAllocator. It never fails: a
// memory that could not be had is returned failed (see Failure).
func (a *Allocator) Allocate(capBytes, maxBytes uint64) experimental.LinearMemory {
	m, err := newLinearMemory(capBytes, maxBytes)
	if err != nil {
		return &failedMemory{err: err}
	}
	a.live.Add(1)
	return &countedMemory{LinearMemory: m, a: a}
}

// Live returns how many memories a allocated and has not freed yet.
func (a *Allocator) Live() int64 { return a.live.Load() }

// Bytes returns the accessible bytes of the memories Live counts.
func (a *Allocator) Bytes() int64 { return a.bytes.Load() }

var _ experimental.MemoryAllocator = (*Allocator)(nil)

// failedMemory is a linear memory that could not be allocated. Its
// Reallocate fails; wazero, which has no way to report that at
// instantiation, panics on the nil it gets (instantiateModule recovers),
// and Failure gives the instantiation the reason.
type failedMemory struct{ err error }

// Reallocate implements experimental.LinearMemory.
func (m *failedMemory) Reallocate(uint64) []byte { return nil }

// Free implements experimental.LinearMemory.
func (m *failedMemory) Free() {}

// Failure returns why m, as an Allocator allocated it, failed to allocate
// or to make its initial size accessible, or nil.
func Failure(m experimental.LinearMemory) error {
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

// countedMemory counts its memory in its Allocator, and frees it once.
// Free may be called twice: by wazero when the instance closes, and by the
// runtime when instantiation failed after allocating.
type countedMemory struct {
	experimental.LinearMemory
	a    *Allocator
	size uint64
	free sync.Once
}

// Reallocate implements experimental.LinearMemory.
func (m *countedMemory) Reallocate(size uint64) []byte {
	b := m.LinearMemory.Reallocate(size)
	if b != nil && size > m.size {
		m.a.bytes.Add(int64(size - m.size))
		m.size = size
	}
	return b
}

// Free implements experimental.LinearMemory.
func (m *countedMemory) Free() {
	m.free.Do(func() {
		m.LinearMemory.Free()
		m.a.live.Add(-1)
		m.a.bytes.Add(-int64(m.size))
	})
}
