package guestmem

import (
	"testing"
	"unsafe"
)

// TestLinearMemory: a memory grows in place up to its maximum, starts and
// grows zeroed, keeps what was written, refuses to grow past the maximum,
// and is counted, with its bytes, until freed, once however often Free is
// called.
func TestLinearMemory(t *testing.T) {
	const page = 64 << 10
	var a Allocator
	m := a.Allocate(page, 4*page)
	if got := a.Live(); got != 1 {
		t.Fatalf("%d memories counted after Allocate, want 1", got)
	}
	b := m.Reallocate(page)
	if len(b) != page || cap(b) != page {
		t.Fatalf("Reallocate(1 page) = len %d cap %d", len(b), cap(b))
	}
	b[0], b[page-1] = 1, 2
	g := m.Reallocate(3 * page)
	if len(g) != 3*page || unsafe.SliceData(g) != unsafe.SliceData(b) {
		t.Fatalf("grown memory has len %d and moved: %v", len(g), unsafe.SliceData(g) != unsafe.SliceData(b))
	}
	if g[0] != 1 || g[page-1] != 2 || g[page] != 0 || g[3*page-1] != 0 {
		t.Fatal("grown memory lost what was written or is not zeroed")
	}
	g[3*page-1] = 3
	if m.Reallocate(5*page) != nil {
		t.Fatal("Reallocate past the maximum succeeded")
	}
	if got := a.Bytes(); got != 3*page {
		t.Fatalf("%d bytes counted for a memory of 3 pages", got)
	}
	m.Free()
	m.Free()
	if got, bytes := a.Live(), a.Bytes(); got != 0 || bytes != 0 {
		t.Fatalf("%d memories and %d bytes counted after Free, want 0", got, bytes)
	}
}
