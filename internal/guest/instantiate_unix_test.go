//go:build unix

package guest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/empirefederation/neuron/internal/guestmem"
	"github.com/empirefederation/neuron/internal/testutil"
)

// TestInstantiate_MappingRefused: when the kernel refuses a guest's memory
// (the process is out of address space or memory maps, as with thousands
// of instances), the instance fails with the reason: no panic (wazero
// indexes the nil it gets), no fallback to the Go heap (where the same
// shortage is a fatal error of the process), and nothing left counted.
func TestInstantiate_MappingRefused(t *testing.T) {
	tests := []struct {
		name    string
		reserve bool // refuse the reservation (mmap), else making it accessible (mprotect)
		want    string
	}{
		{"reserve", true, "reserve 134217728 bytes: mmap: cannot allocate memory"},
		{"make accessible", false, "make 65536 bytes accessible: mprotect: cannot allocate memory"},
	}
	ctx := context.Background()
	var mem guestmem.Allocator
	r := NewRuntime(ctx, wazero.NewCompilationCache(), 2048, false)
	defer r.Close(ctx)
	compiled, err := r.CompileModule(ctx, testutil.Wat(t, filepath.Join(testutil.RepoRoot(t), "runtime/testdata/ok.wat")))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer guestmem.RefuseForTest(tc.reserve)()
			mod, _, _, err := Instantiate(ctx, r, &mem, compiled, ModuleConfig(), time.Second)
			if err == nil {
				_ = mod.Close(ctx)
				t.Fatal("instantiate succeeded with the kernel refusing its memory")
			}
			for _, want := range []string{"guest memory: " + tc.want, "lower poolMax or memoryPages"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if n, b := mem.Live(), mem.Bytes(); n != 0 || b != 0 {
				t.Errorf("%d memories and %d bytes left counted", n, b)
			}
		})
	}
	// The runtime is sound after the failures: an instance starts.
	mod, cc, _, err := Instantiate(ctx, r, &mem, compiled, ModuleConfig(), time.Second)
	if err != nil {
		t.Fatalf("instantiate after the failures: %v", err)
	}
	cc.Release()
	_ = mod.Close(ctx)
}
