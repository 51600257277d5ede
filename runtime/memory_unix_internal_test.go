//go:build unix

package runtime

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"golang.org/x/sys/unix"

	"github.com/empirefederation/neuron/internal/testutil"
)

// TestInstantiate_MappingRefused: when the kernel refuses a guest's memory
// (the process is out of address space or memory maps, as with thousands
// of instances), the instance fails with the reason: no panic (wazero
// indexes the nil it gets), no fallback to the Go heap (where the same
// shortage is a fatal error of the process), and nothing left counted.
func TestInstantiate_MappingRefused(t *testing.T) {
	refuse := func(_ int, _ int64, _ int, _ int, _ int) ([]byte, error) { return nil, unix.ENOMEM }
	tests := []struct {
		name  string
		setup func()
		want  string
	}{
		{"reserve", func() { mmap = refuse }, "reserve 134217728 bytes: mmap: cannot allocate memory"},
		{"make accessible", func() { mprotect = func([]byte, int) error { return unix.ENOMEM } },
			"make 65536 bytes accessible: mprotect: cannot allocate memory"},
	}
	ctx := context.Background()
	r := newWazeroRuntime(ctx, wazero.NewCompilationCache(), 2048, false)
	defer r.Close(ctx)
	compiled, err := r.CompileModule(ctx, testutil.Wat(t, "testdata/ok.wat"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			savedMmap, savedMprotect := mmap, mprotect
			defer func() { mmap, mprotect = savedMmap, savedMprotect }()
			tc.setup()
			before, bytesBefore := liveMemories.Load(), liveMemoryBytes.Load()
			mod, _, _, err := instantiate(ctx, r, compiled, moduleConfig(), time.Second)
			if err == nil {
				_ = mod.Close(ctx)
				t.Fatal("instantiate succeeded with the kernel refusing its memory")
			}
			for _, want := range []string{"guest memory: " + tc.want, "lower poolMax or memoryPages"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if n, b := liveMemories.Load()-before, liveMemoryBytes.Load()-bytesBefore; n != 0 || b != 0 {
				t.Errorf("%d memories and %d bytes left counted", n, b)
			}
		})
	}
	// The runtime is sound after the failures: an instance starts.
	mod, cc, _, err := instantiate(ctx, r, compiled, moduleConfig(), time.Second)
	if err != nil {
		t.Fatalf("instantiate after the failures: %v", err)
	}
	cc.release()
	_ = mod.Close(ctx)
}
