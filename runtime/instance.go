package runtime

import (
	"context"
	"fmt"
	"math/bits"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/empirefederation/neuron/sdk/abi"
)

// instance is one instantiated module of a processor. It serves one call at a
// time; the pool hands it to one caller at a time.
type instance struct {
	mod      api.Module
	mem      api.Memory
	alloc    api.Function
	handlers []api.Function // by endpoint index
	stderr   *tailBuffer
	limit    uint32 // memory limit in bytes, 0 for none
	ctx      *callContext
	stacks   *callStacks // of handlers and alloc; see stack.go

	buf, bufCap uint32 // the guest's request buffer from its last alloc
	spent       bool   // its deadline fired or it was interrupted: it must not serve again
	stack       [2]uint64

	// id is NAME@VERSION#N, N counting the instances ever created for the
	// processor version; seq is N. See workers.go.
	id      string
	seq     uint64
	started time.Time
	// uses is bumped when a caller checks the instance out and again when
	// it hands it back: odd while a call holds it, and twice the calls
	// served when idle. Two uncontended adds per call, no lock.
	uses atomic.Uint64
	// retired asks for the instance to be replaced: it is destroyed rather
	// than reused when its call returns or when it is next checked out.
	retired atomic.Bool
}

// minRequestBuffer is the smallest buffer the host asks a guest for, so that
// small requests of varying size do not each cost an alloc call.
const minRequestBuffer = 4 << 10

// call sends an encoded request to the handler export at index ep, stopping
// it after timeout, and returns the decoded response, whose body is appended
// to out (the guest's memory is not retained). On error the instance may be
// unusable; see CallError.Discard.
func (in *instance) call(ep int, msg []byte, timeout time.Duration, maxResponse int64, out []byte) (abi.Response, *CallError) {
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

// reusable reports whether the instance may serve again after a call that
// ended with cerr.
func (in *instance) reusable(cerr *CallError) bool {
	return !in.spent && (cerr == nil || !cerr.Discard)
}

// invoke writes the request into guest memory and calls the handler.
func (in *instance) invoke(ep int, msg []byte) *CallError {
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
func (in *instance) response(maxResponse int64, out []byte) (abi.Response, *CallError) {
	ptr, size := abi.Unpack(in.stack[0])
	if int64(size) > maxResponse {
		return abi.Response{}, &CallError{Status: 502, Code: CodeResponseTooLarge,
			Msg: fmt.Sprintf("response of %d bytes exceeds the limit of %d; raise limits.maxResponseBytes if it is expected%s",
				size, maxResponse, swapHint(in.mem, ptr, size, validResponse))}
	}
	b, ok := in.mem.Read(ptr, size)
	if !ok {
		return abi.Response{}, abiViolation("response at %d (%d bytes) is outside guest memory of %d bytes%s", ptr, size, in.mem.Size(),
			swapHint(in.mem, ptr, size, validResponse))
	}
	resp, err := abi.DecodeResponse(b)
	if err != nil {
		return abi.Response{}, abiViolation("response (%d bytes at %d) is not a valid ABI v%d response: %v%s", size, ptr, abi.Version, err,
			swapHint(in.mem, ptr, size, validResponse))
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
func (in *instance) grow(n uint32) *CallError {
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
func (in *instance) failed(err error) *CallError {
	switch in.ctx.stopped.Load() {
	case stopTimeout:
		return &CallError{Status: http.StatusGatewayTimeout, Code: CodeTimeout,
			Msg: "processor call timed out; raise limits.callTimeout if it needs longer", Err: err, Discard: true}
	case stopRestart:
		return &CallError{Status: http.StatusServiceUnavailable, Code: CodeWorkerRestarted,
			Msg: "the processor instance serving this call was restarted by an operator; retry", Err: err, Discard: true}
	case stopUnload:
		name, _, _ := strings.Cut(in.id, "#")
		cerr := unloadedError(name)
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

func (in *instance) close(ctx context.Context) {
	in.ctx.release()
	_ = in.mod.Close(ctx)
}

// tailBuffer keeps the last bytes written to it: a guest's standard error,
// bounded so that a chatty guest cannot grow the host's memory.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

// tailBytes is how much of a guest's standard error is kept per call.
const tailBytes = 4 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) > tailBytes {
		p = p[len(p)-tailBytes:]
	}
	if over := len(t.buf) + len(p) - tailBytes; over > 0 {
		t.buf = t.buf[:copy(t.buf, t.buf[over:])]
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func (t *tailBuffer) Reset() {
	t.mu.Lock()
	t.buf = t.buf[:0]
	t.mu.Unlock()
}
