package modfile

import (
	"context"

	"github.com/tetratelabs/wazero"
)

// compileSlots admits one compilation at a time in the process. Compiling
// a module takes memory in proportion to it (65 MB for the Go data
// processor, up to about 300 MB for a module at the module budget's bounds;
// see internal/wasmbound), and wazero cannot stop a compilation once it
// started: a sync that opens several new files at once holds the memory of
// one compilation, not of all of them. Compiling again a module that the
// compilation cache holds takes milliseconds.
var compileSlots = make(chan struct{}, 1)

// Compile compiles code in r once no other compilation of the
// process runs, or fails when ctx is done first.
func Compile(ctx context.Context, r wazero.Runtime, code []byte) (wazero.CompiledModule, error) {
	select {
	case compileSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	defer func() { <-compileSlots }()
	return r.CompileModule(ctx, code)
}
