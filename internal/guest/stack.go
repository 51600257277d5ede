package guest

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Guest call stacks. wazero's compiler gives every api.Function handle its
// own call stack, a []byte on the Go heap: it starts at 10 KiB, doubles
// whenever a deeper call needs more, up to about 100 MB (past it the call
// traps with a stack overflow), and never shrinks. An instance keeps its
// handles for its lifetime, so a guest that recursed deeply once would keep
// that much of the host's heap for good, outside its memoryPages and
// unseen by neuron_guest_memory_bytes. After each call the host reads the
// handle's stack size and, past stackKeep, replaces the handle with a
// fresh one (the guest's state is the instance's, not the handle's): the
// deep stack becomes garbage. What stays is counted per processor as
// neuron_guest_stack_bytes. See docs/design.md, "How big can a guest's
// call stack get, and who pays for it?".

// stackKeep is the most call stack one handle keeps between calls. A Go
// guest runs its goroutine stacks in its linear memory, and its handles'
// stacks stay at 10 to 21 KiB (runtime/testdata/guests/echo); only a deep
// recursion on the Wasm stack (a guest in C, Rust or Zig, or a hostile
// one) grows one past this. Replacing a handle costs about 11 µs (a new
// handle and its first 10 KiB); discarding the instance instead would
// cost a new instance, some 10 ms for a Go guest, and its state.
const stackKeep = 1 << 20

// stackField locates the call stack in wazero's function handles: the
// type of a handle of a compiled function, and the index of its
// unexported stack field. wazero has no API for it; reading the length of
// an unexported field is what reflect allows (about 15 ns a call; reading
// the slice header at the field's offset through unsafe saves half of it,
// not worth the type pun). Found once, from a throwaway module; nil when
// this wazero has no such field: TestStackOf fails then, so that an
// upgrade that moves it is noticed.
var stackField = sync.OnceValue(func() *stackLocation {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	defer r.Close(ctx)
	// (module (func (export "f")))
	mod, err := r.Instantiate(ctx, []byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x07\x05\x01\x01f\x00\x00\x0a\x04\x01\x02\x00\x0b"))
	if err != nil {
		return nil
	}
	t := reflect.TypeOf(mod.ExportedFunction("f"))
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	f, ok := t.Elem().FieldByName("stack")
	if !ok || f.Type.Kind() != reflect.Slice || len(f.Index) != 1 {
		return nil
	}
	return &stackLocation{typ: t, index: f.Index[0], elem: int(f.Type.Elem().Size())}
})

// stackLocation is where a handle type keeps its call stack.
type stackLocation struct {
	typ   reflect.Type
	index int // of the field
	elem  int // bytes per element
}

// stackOf returns the bytes of call stack the handle fn holds, 0 for a
// handle of another kind (a host function).
func stackOf(fn api.Function) int {
	loc := stackField()
	v := reflect.ValueOf(fn)
	if loc == nil || !v.IsValid() || v.Type() != loc.typ || v.IsNil() {
		return 0
	}
	return v.Elem().Field(loc.index).Len() * loc.elem
}

// callStacks are the call stacks of one instance's handles: its handlers
// by endpoint index, then its alloc.
type callStacks struct {
	names []string // the exports, in the same order
	bytes []int    // what each handle held after its last call
	// total is the sum of bytes, read by the metrics.
	total atomic.Int64
	// resets counts the handles replaced for holding more than stackKeep:
	// the processor's counter, shared by its instances.
	resets *atomic.Uint64
}

// newCallStacks measures the stacks of the handles fns, named names.
func newCallStacks(fns []api.Function, names []string, resets *atomic.Uint64) *callStacks {
	s := &callStacks{names: names, bytes: make([]int, len(fns)), resets: resets}
	for i, fn := range fns {
		s.bytes[i] = stackOf(fn)
		s.total.Add(int64(s.bytes[i]))
	}
	return s
}

// check measures the stack of *fn, the handle at i, after a call, and
// replaces it with a fresh handle of mod when it holds more than
// stackKeep. A few nanoseconds when nothing changed: the request path
// calls it once per call.
func (s *callStacks) check(mod api.Module, i int, fn *api.Function) {
	n := stackOf(*fn)
	if n > stackKeep {
		if fresh := mod.ExportedFunction(s.names[i]); fresh != nil {
			*fn = fresh
			n = stackOf(fresh)
			s.resets.Add(1)
		}
	}
	if n != s.bytes[i] {
		s.total.Add(int64(n - s.bytes[i]))
		s.bytes[i] = n
	}
}
