package guest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/empirefederation/neuron/internal/guestmem"
)

// TestInstantiate_FailureFreesMemory: an instantiation that fails after
// wazero allocated the memory (a data segment past its end) frees it.
func TestInstantiate_FailureFreesMemory(t *testing.T) {
	ctx := context.Background()
	r := NewRuntime(ctx, wazero.NewCompilationCache(), 16, false)
	defer r.Close(ctx)
	bin := []byte("\x00asm\x01\x00\x00\x00" +
		"\x05\x03\x01\x00\x01" + // one memory of 1 page
		"\x0b\x0a\x01\x00\x41\xff\xff\x03\x0b\x02ab") // "ab" at 65535
	compiled, err := r.CompileModule(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	var mem guestmem.Allocator
	_, _, _, err = Instantiate(ctx, r, &mem, compiled, ModuleConfig(), time.Second)
	if err == nil || !strings.Contains(err.Error(), "out of bounds") {
		t.Fatalf("instantiate: %v, want out of bounds", err)
	}
	if got := mem.Live(); got != 0 {
		t.Fatalf("%d memories left after the failed instantiation", got)
	}
}
