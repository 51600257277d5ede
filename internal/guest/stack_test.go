package guest

import (
	"context"
	goruntime "runtime"
	"testing"

	"github.com/tetratelabs/wazero"
)

// TestStackOf: the call stack of wazero's function handles is found, and
// measured: a fresh handle holds its first 10 KiB. If this fails after a
// wazero upgrade, the field moved: fix stackField, or guest call stacks go
// unbounded and uncounted again.
func TestStackOf(t *testing.T) {
	if goruntime.GOARCH != "amd64" && goruntime.GOARCH != "arm64" {
		t.Skip("wazero's compiler (whose stacks this measures) runs on amd64 and arm64")
	}
	if stackField() == nil {
		t.Fatal("wazero's function handles have no stack field: see stackField")
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	defer r.Close(ctx)
	// (module (func (export "f")))
	mod, err := r.Instantiate(ctx, []byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x07\x05\x01\x01f\x00\x00\x0a\x04\x01\x02\x00\x0b"))
	if err != nil {
		t.Fatal(err)
	}
	if n := stackOf(mod.ExportedFunction("f")); n < 4<<10 || n > 64<<10 {
		t.Errorf("a fresh handle holds %d bytes of stack, want about 10 KiB", n)
	}
	if n := stackOf(nil); n != 0 {
		t.Errorf("stackOf(nil) = %d", n)
	}
}
