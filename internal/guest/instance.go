// Package guest owns one Wasm instance of a processor and its calls: the
// instance's start (Instantiate: the start function and _initialize under
// a deadline, its memory from a guestmem.Allocator), the call of a handler
// export (the request written into guest memory, the deadline, the
// response read back and checked, a grown call stack replaced), the
// interruption of a call (Context), and what a failed call tells its
// caller (CallError and its codes). It must not know pools, routing,
// versions or the HTTP request: the runtime checks an Instance out of a
// pool, encodes the request and writes the response. Nothing here may add
// work to the request path (Instance.Call) without a measurement (see
// docs/benchmarks.md).
package guest

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/empirefederation/neuron/sdk/abi"
)

// Instance is one instantiated module of a processor. It serves one call at
// a time; the runtime's pool hands it to one caller at a time. The zero
// value is ready for Start.
type Instance struct {
	mod      api.Module
	mem      api.Memory
	alloc    api.Function
	handlers []api.Function // by endpoint index
	stderr   *Stderr
	limit    uint32 // memory limit in bytes, 0 for none
	ctx      *Context
	stacks   *callStacks // of handlers and alloc; see stack.go
	name     string      // the processor's, for the message of an unloaded call

	buf, bufCap uint32 // the guest's request buffer from its last alloc
	spent       bool   // its deadline fired or it was interrupted: it must not serve again
	stack       [2]uint64
}

// Spec is what every instance of a processor version serves, made once
// per version: the processor's name, its memory limit, and the counter of
// call stacks replaced (see stack.go) that its instances share.
type Spec struct {
	Name string
	// Handles are the handler exports by endpoint index, then
	// abi.ExportAlloc: the functions every call may run.
	Handles     []string
	MemoryLimit uint32 // bytes, 0 for none
	StackResets *atomic.Uint64
}

// Start makes in the instance mod, which Instantiate started with cc and
// stderr, serving spec: it resolves the exports once so that calls do no
// lookups. It fails, closing mod, when the module exports no memory.
func (in *Instance) Start(ctx context.Context, mod api.Module, cc *Context, stderr *Stderr, spec Spec) error {
	*in = Instance{mod: mod, mem: mod.Memory(), alloc: mod.ExportedFunction(abi.ExportAlloc), stderr: stderr,
		limit: spec.MemoryLimit, ctx: cc, name: spec.Name}
	for _, name := range spec.Handles[:len(spec.Handles)-1] {
		in.handlers = append(in.handlers, mod.ExportedFunction(name))
	}
	in.stacks = newCallStacks(append(in.handlers[:len(in.handlers):len(in.handlers)], in.alloc), spec.Handles, spec.StackResets)
	if in.mem == nil {
		in.Close(ctx)
		return errors.New("the module exports no memory")
	}
	return nil
}

// minRequestBuffer is the smallest buffer the host asks a guest for, so that
// small requests of varying size do not each cost an alloc call.
const minRequestBuffer = 4 << 10

// Call sends an encoded request to the handler export at index ep, stopping
// it after timeout, and returns the decoded response, whose body is appended
// to out (the guest's memory is not retained). On error the instance may be
// unusable; see CallError.Discard.
func (in *Instance) Call(ep int, msg []byte, timeout time.Duration, maxResponse int64, out []byte) (abi.Response, *CallError) {
	in.stderr.Reset()
	in.ctx.arm(timeout)
	cerr := in.invoke(ep, msg)
	if !in.ctx.disarm() {
		// The deadline fired or a restart interrupted the instance, perhaps
		// as the call returned: an answer stands, but the interrupt flag is
		// raised for good.
		in.spent = true
	}
	if cerr != nil {
		return abi.Response{}, cerr
	}
	return in.response(maxResponse, out)
}

// Reusable reports whether the instance may serve again after a call that
// ended with cerr.
func (in *Instance) Reusable(cerr *CallError) bool {
	return !in.spent && (cerr == nil || !cerr.Discard)
}

// invoke writes the request into guest memory and calls the handler.
func (in *Instance) invoke(ep int, msg []byte) *CallError {
	n := uint32(len(msg))
	if n > in.bufCap {
		if err := in.grow(n); err != nil {
			return err
		}
	}
	if !in.mem.Write(in.buf, msg) {
		return abiViolation("request buffer at %d (%d bytes) from %s is outside guest memory", in.buf, n, abi.ExportAlloc)
	}
	in.stack[0], in.stack[1] = uint64(in.buf), uint64(n)
	err := in.handlers[ep].CallWithStack(in.ctx, in.stack[:])
	in.stacks.check(in.mod, ep, &in.handlers[ep])
	if err != nil {
		return in.failed(err)
	}
	return nil
}

// response reads and checks what the handler returned.
func (in *Instance) response(maxResponse int64, out []byte) (abi.Response, *CallError) {
	ptr, size := abi.Unpack(in.stack[0])
	if int64(size) > maxResponse {
		return abi.Response{}, &CallError{Status: 502, Code: CodeResponseTooLarge,
			Msg: fmt.Sprintf("response of %d bytes exceeds the limit of %d; raise limits.maxResponseBytes if it is expected%s",
				size, maxResponse, SwapHint(in.mem, ptr, size, validResponse))}
	}
	b, ok := in.mem.Read(ptr, size)
	if !ok {
		return abi.Response{}, abiViolation("response at %d (%d bytes) is outside guest memory of %d bytes%s", ptr, size, in.mem.Size(),
			SwapHint(in.mem, ptr, size, validResponse))
	}
	resp, err := abi.DecodeResponse(b)
	if err != nil {
		return abi.Response{}, abiViolation("response (%d bytes at %d) is not a valid ABI v%d response: %v%s", size, ptr, abi.Version, err,
			SwapHint(in.mem, ptr, size, validResponse))
	}
	if resp.Status < 200 || resp.Status > 599 { // net/http sends 1xx as interim responses, then 200
		return abi.Response{}, abiViolation("response status %d is not a final HTTP status", resp.Status)
	}
	resp.Body = append(out, resp.Body...)
	return resp, nil
}

// validResponse reports whether b decodes as a response.
func validResponse(b []byte) bool {
	_, err := abi.DecodeResponse(b)
	return err == nil
}

// grow asks the guest for a request buffer of at least n bytes.
func (in *Instance) grow(n uint32) *CallError {
	size := max(uint32(minRequestBuffer), n)
	if size < 1<<31 {
		size = 1 << (32 - bits.LeadingZeros32(size-1)) // next power of two
	}
	in.stack[0] = uint64(size)
	err := in.alloc.CallWithStack(in.ctx, in.stack[:])
	in.stacks.check(in.mod, len(in.handlers), &in.alloc)
	if err != nil {
		return in.failed(err)
	}
	ptr := uint32(in.stack[0])
	if ptr == 0 || uint64(ptr)+uint64(size) > uint64(in.mem.Size()) {
		return abiViolation("%s(%d) returned %d, outside guest memory of %d bytes", abi.ExportAlloc, size, ptr, in.mem.Size())
	}
	in.buf, in.bufCap = ptr, size
	return nil
}

// failed classifies an error from a guest call.
func (in *Instance) failed(err error) *CallError {
	switch in.ctx.stopped.Load() {
	case stopTimeout:
		return &CallError{Status: http.StatusGatewayTimeout, Code: CodeTimeout,
			Msg: "processor call timed out; raise limits.callTimeout if it needs longer", Err: err, Discard: true}
	case stopRestart:
		return &CallError{Status: http.StatusServiceUnavailable, Code: CodeWorkerRestarted,
			Msg: "the processor instance serving this call was restarted by an operator; retry", Err: err, Discard: true}
	case stopUnload:
		cerr := UnloadedError(in.name)
		cerr.Err = err
		return cerr
	}
	nearLimit := in.limit > 0 && in.mem.Size()+memoryLimitSlack >= in.limit
	return guestError(err, in.stderr.String(), nearLimit)
}

// memoryLimitSlack is how close to its limit a failed guest's memory must be
// for the failure to count as running out of memory: Go's runtime grows its
// heap in steps of up to 4 MiB.
const memoryLimitSlack = 4 << 20

// Close stops the instance's deadline for good and closes its module.
func (in *Instance) Close(ctx context.Context) {
	in.ctx.Release()
	_ = in.mod.Close(ctx)
}

// SetCallConfig makes the configuration the next calls see through the
// config host function cfg instead of their processor's (an experiment
// variant's), until it is set back to nil. Only the caller holding the
// instance sets it, around its call.
func (in *Instance) SetCallConfig(cfg []byte) { in.ctx.cfg = cfg }

// SetCallCaller makes caller (JSON, see abi.FuncCaller) who the next
// calls see through the caller host function, until it is set back to
// nil. Only the caller holding the instance sets it, around its call.
func (in *Instance) SetCallCaller(caller []byte) { in.ctx.caller = caller }

// Interrupt stops the instance for an operator's restart: a call running
// now ends at once (503 worker_restarted), and any later call as soon as
// it starts.
func (in *Instance) Interrupt() { in.ctx.interrupt() }

// Unload stops the instance because its version was unloaded and the
// drain timed out: its call ends with 503 unloaded.
func (in *Instance) Unload() { in.ctx.unload() }

// StackBytes returns the call stack its handles hold: see stack.go.
func (in *Instance) StackBytes() int64 { return in.stacks.total.Load() }

// Module returns the instance's module, for tests that look into it.
func (in *Instance) Module() api.Module { return in.mod }

// maxSelfTestMessage bounds the failure message read from a guest's
// self-test, so that a hostile length cannot flood the log.
const maxSelfTestMessage = 1 << 10

// SelfTest calls the instance's self-test export under timeout, until ctx
// ends, and returns the guest's message when it reports a failure.
func (in *Instance) SelfTest(ctx context.Context, timeout time.Duration) error {
	fn := in.mod.ExportedFunction(abi.ExportSelfTest)
	if fn == nil {
		return nil
	}
	if def := fn.Definition(); len(def.ParamTypes()) != 0 || !slices.Equal(def.ResultTypes(), []api.ValueType{api.ValueTypeI64}) {
		return fmt.Errorf("%s must be () -> i64", abi.ExportSelfTest)
	}
	in.stderr.Reset()
	stack := []uint64{0}
	if err := in.ctx.CallWithin(ctx, fn, stack, timeout); err != nil {
		in.spent = true
		return fmt.Errorf("self-test failed: %s: %w", abi.ExportSelfTest, WithStderr(err, in.stderr.String()))
	}
	if stack[0] == 0 {
		return nil
	}
	ptr, n := abi.Unpack(stack[0])
	b, ok := in.mem.Read(ptr, min(n, maxSelfTestMessage))
	if !ok {
		return fmt.Errorf("self-test failed, and its message (%d bytes at %d) is outside guest memory", n, ptr)
	}
	msg := strings.ToValidUTF8(strings.TrimSpace(string(b)), string(utf8.RuneError))
	if msg == "" {
		return errors.New("self-test failed without a message")
	}
	return fmt.Errorf("self-test failed: %s", msg)
}
