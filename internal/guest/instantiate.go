package guest

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/empirefederation/neuron/internal/guestmem"
	"github.com/empirefederation/neuron/internal/interrupt"
	"github.com/empirefederation/neuron/sdk/abi"
)

// SwapHint explains a result packed as (ptr, n) that could not be read
// or decoded, when it looks like the guest swapped pointer and length:
// read the other way round, the bytes pass ok. It is "" otherwise.
func SwapHint(mem api.Memory, ptr, n uint32, ok func([]byte) bool) string {
	if b, read := mem.Read(n, ptr); read && ptr > 0 && ok(b) {
		return fmt.Sprintf("; read the other way round, %d bytes at %d, it is valid: the pointer and length look swapped, "+
			"pack them as pointer<<32 | length (abi.Pack)", ptr, n)
	}
	return ""
}

// ModuleConfig is the configuration of every instance: a reactor (the host
// calls _initialize itself, under a deadline), with real clocks and
// randomness, anonymous so that any number of instances coexist, and nothing
// else unless a permission grants it. See docs/design.md, "What does a guest
// get?".
func ModuleConfig() wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithSysWalltime().WithSysNanotime().
		WithRandSource(cryptoRand{})
}

// Instantiate starts an instance of compiled and runs its start function
// and its _initialize, stopping each after timeout or when ctx ends. The
// instance's stderr and stdout go to the returned buffer, and it sleeps
// through a sleep that its deadline cuts short.
func Instantiate(ctx context.Context, r wazero.Runtime, alloc *guestmem.Allocator, compiled wazero.CompiledModule, cfg wazero.ModuleConfig, timeout time.Duration) (api.Module, *Context, *Stderr, error) {
	stderr := &Stderr{}
	cc := newContext()
	cfg = cfg.WithStderr(stderr).WithStdout(stderr).WithNanosleep(cc.sleep)
	// A start function runs inside InstantiateModule. An instrumented
	// module has none (it is exported as interrupt.StartExport and called
	// below); for any other, wazero watches the context instantiation is
	// given: the instance's own, under the deadline, which ends a sleep too.
	// wazero does not free the memory of an instantiation that fails after
	// allocating it (a data segment out of bounds): the allocator keeps it
	// for this call to free (see guestmem.Allocator).
	var mem experimental.LinearMemory
	ictx := experimental.WithMemoryAllocator(cc, experimental.MemoryAllocatorFunc(func(capBytes, maxBytes uint64) experimental.LinearMemory {
		mem = alloc.Allocate(capBytes, maxBytes)
		return mem
	}))
	var mod api.Module
	err := cc.within(ctx, timeout, func() (err error) {
		mod, err = instantiateModule(ictx, r, compiled, cfg)
		return err
	})
	if err != nil {
		if mod != nil { // instantiated, but past its deadline: spent
			_ = mod.Close(ctx)
		} else if mem != nil {
			err = cmp.Or(guestmem.Failure(mem), err)
			mem.Free()
		}
		if errors.Is(err, errTimeout) || errors.Is(err, errCanceled) {
			// Only a start function runs guest code in instantiation.
			return nil, nil, nil, fmt.Errorf("start function: %w", err)
		}
		return nil, nil, nil, fmt.Errorf("instantiate: %w", WithStderr(err, stderr.String()))
	}
	if !hasMemory(mod) {
		_ = mod.Close(ctx)
		return nil, nil, nil, errors.New("the module has no memory: a processor must define one to exchange requests and responses")
	}
	if g, ok := mod.ExportedGlobal(interrupt.Global).(api.MutableGlobal); ok {
		cc.flag = g
		if start := mod.ExportedFunction(interrupt.StartExport); start != nil {
			if err := cc.CallWithin(ctx, start, nil, timeout); err != nil {
				cc.Release()
				_ = mod.Close(ctx)
				return nil, nil, nil, fmt.Errorf("start function: %w", WithStderr(err, stderr.String()))
			}
		}
	}
	if init := mod.ExportedFunction(abi.ExportInitialize); init != nil {
		if err := cc.CallWithin(ctx, init, nil, timeout); err != nil {
			cc.Release()
			_ = mod.Close(ctx)
			return nil, nil, nil, fmt.Errorf("initialize: %w", WithStderr(err, stderr.String()))
		}
	}
	return mod, cc, stderr, nil
}

// instantiateModule is r.InstantiateModule, with a panic in wazero turned
// into an error: wazero indexes the memory the allocator returns without
// checking it, and panics when mapping it failed (see newLinearMemory).
// The instance is not registered anywhere yet then, so failing it leaves
// the runtime sound.
func instantiateModule(ctx context.Context, r wazero.Runtime, compiled wazero.CompiledModule, cfg wazero.ModuleConfig) (mod api.Module, err error) {
	defer func() {
		if v := recover(); v != nil {
			mod, err = nil, fmt.Errorf("wazero failed: %v", v)
		}
	}()
	return r.InstantiateModule(ctx, compiled, cfg)
}

// NewRuntime returns a runtime for one processor with WASI, the
// optimizing compiler, the shared compilation cache and a memory limit.
// An interruptible module is stopped through its interrupt flag; any other
// needs wazero to watch the call's context, which is much slower.
func NewRuntime(ctx context.Context, cache wazero.CompilationCache, memoryPages uint32, interruptible bool) wazero.Runtime {
	cfg := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(cache).
		WithMemoryLimitPages(memoryPages).
		WithCloseOnContextDone(!interruptible)
	r := wazero.NewRuntimeWithConfig(ctx, cfg)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	return r
}

// hasMemory reports whether mod has a linear memory. For a module without
// one, wazero's Memory returns a nil pointer in a non-nil api.Memory, whose
// methods panic.
func hasMemory(mod api.Module) bool {
	mem := mod.Memory()
	if mem == nil {
		return false
	}
	v := reflect.ValueOf(mem)
	return v.Kind() != reflect.Pointer || !v.IsNil()
}

// cryptoRand gives guests the host's cryptographic randomness; wazero's
// default source is deterministic.
type cryptoRand struct{}

func (cryptoRand) Read(p []byte) (int, error) { return rand.Read(p) }
