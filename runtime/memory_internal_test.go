package runtime

import (
	"context"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/tetratelabs/wazero"
)

// TestLinearMemory: a memory grows in place up to its maximum, starts and
// grows zeroed, keeps what was written, refuses to grow past the maximum,
// and is counted, with its bytes, until freed, once however often Free is
// called.
func TestLinearMemory(t *testing.T) {
	const page = 64 << 10
	before, bytesBefore := liveMemories.Load(), liveMemoryBytes.Load()
	m := linearMemory.Allocate(page, 4*page)
	if got := liveMemories.Load() - before; got != 1 {
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
	if got := liveMemoryBytes.Load() - bytesBefore; got != 3*page {
		t.Fatalf("%d bytes counted for a memory of 3 pages", got)
	}
	m.Free()
	m.Free()
	if got, bytes := liveMemories.Load()-before, liveMemoryBytes.Load()-bytesBefore; got != 0 || bytes != 0 {
		t.Fatalf("%d memories and %d bytes counted after Free, want 0", got, bytes)
	}
}

// TestInstantiate_FailureFreesMemory: an instantiation that fails after
// wazero allocated the memory (a data segment past its end) frees it.
func TestInstantiate_FailureFreesMemory(t *testing.T) {
	ctx := context.Background()
	r := newWazeroRuntime(ctx, wazero.NewCompilationCache(), 16, false)
	defer r.Close(ctx)
	bin := []byte("\x00asm\x01\x00\x00\x00" +
		"\x05\x03\x01\x00\x01" + // one memory of 1 page
		"\x0b\x0a\x01\x00\x41\xff\xff\x03\x0b\x02ab") // "ab" at 65535
	compiled, err := r.CompileModule(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	before := liveMemories.Load()
	_, _, _, err = instantiate(ctx, r, compiled, moduleConfig(), time.Second)
	if err == nil || !strings.Contains(err.Error(), "out of bounds") {
		t.Fatalf("instantiate: %v, want out of bounds", err)
	}
	if got := liveMemories.Load() - before; got != 0 {
		t.Fatalf("%d memories left after the failed instantiation", got)
	}
}
