package guest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// Context is the context of every call into one instance. Its Done
// channel closes when a call runs past its deadline; wazero then stops the
// guest at its next function entry or loop header and closes the module.
//
// Why not context.WithTimeout per call? It allocates a context and a timer,
// and wazero watches each call's context from a goroutine of its own; reusing
// one context and one timer per instance removes the allocations and the
// timer churn from the request path. See docs/design.md, "How is a call
// stopped?".
type Context struct {
	context.Context // values only; never done by itself
	done            chan struct{}
	stopped         atomic.Int32 // why the instance was stopped: stopNone until it is
	timer           *time.Timer
	flag            api.MutableGlobal // the interrupt flag, nil if not instrumented
	// cfg, when not nil, is the configuration the current call sees
	// through the config host function instead of its processor's: an
	// experiment variant's. Set before the call and cleared after it by
	// the one caller holding the instance.
	cfg []byte
	// caller, when not nil, is who calls, as JSON, for the caller host
	// function; set and cleared like cfg.
	caller []byte
}

// CallConfig implements host.CallConfigurer.
func (c *Context) CallConfig() []byte { return c.cfg }

// CallCaller implements host.CallerIdentifier.
func (c *Context) CallCaller() []byte { return c.caller }

// Why an instance was stopped. Only the first reason counts: stopping is
// for good.
const (
	stopNone     int32 = iota
	stopTimeout        // its call ran past the deadline
	stopRestart        // an operator restarted it (RestartWorkers, not graceful)
	stopUnload         // its version left the snapshot and the drain timed out
	stopCanceled       // the load it started for was canceled (CallWithin)
)

func newContext() *Context {
	c := &Context{Context: context.Background(), done: make(chan struct{})}
	c.timer = time.AfterFunc(time.Hour, c.expire)
	c.timer.Stop()
	return c
}

// expired reports whether the instance was stopped, for whatever reason.
func (c *Context) expired() bool { return c.stopped.Load() != stopNone }

// Done implements context.Context.
func (c *Context) Done() <-chan struct{} { return c.done }

// Err implements context.Context.
func (c *Context) Err() error {
	switch c.stopped.Load() {
	case stopTimeout:
		return context.DeadlineExceeded
	case stopRestart, stopUnload, stopCanceled:
		return context.Canceled
	}
	return nil
}

// expire stops the running call at its deadline.
func (c *Context) expire() { c.stop(stopTimeout) }

// interrupt stops the instance for an operator's restart: a call running
// now ends at once, and any later call as soon as it starts.
func (c *Context) interrupt() { c.stop(stopRestart) }

// unload stops the instance because its version was unloaded and the drain
// timed out.
func (c *Context) unload() { c.stop(stopUnload) }

// stop records why the instance stops, raises the interrupt flag, which the
// guest checks at every loop head, and closes Done, which wazero watches for
// modules that could not be instrumented and which ends a sleep. Only the
// first call does anything.
func (c *Context) stop(reason int32) {
	if c.stopped.CompareAndSwap(stopNone, reason) {
		if c.flag != nil {
			c.flag.Set(1)
		}
		close(c.done)
	}
}

// sleep is the guest's nanosleep: a sleep the deadline cuts short.
func (c *Context) sleep(ns int64) {
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.done:
	}
}

// errTimeout is the cause of a call stopped by its deadline.
var errTimeout = errors.New("stopped at its time limit")

// CallWithin calls fn with stack, stopped at timeout and too when ctx
// ends: for the guest code run to start an instance or check a module
// (_initialize, the probe, the self-test), which belongs to a load that a
// shutdown, a signal or the caller cancels. See within.
func (c *Context) CallWithin(ctx context.Context, fn api.Function, stack []uint64, timeout time.Duration) error {
	return c.within(ctx, timeout, func() error { return fn.CallWithStack(c, stack) })
}

// within runs guest code in f under a deadline of timeout, stopped too
// when ctx ends. Code stopped by its deadline fails with errTimeout, code
// stopped so, or whose ctx ended as it returned, with errCanceled; either
// way the instance is stopped for good. The watch costs an allocation:
// never on the handler path.
func (c *Context) within(ctx context.Context, timeout time.Duration, f func() error) error {
	watch := context.AfterFunc(ctx, func() { c.stop(stopCanceled) })
	c.arm(timeout)
	err := f()
	inTime := c.disarm()
	canceled := !watch()
	switch {
	case c.stopped.Load() == stopCanceled || canceled && err == nil:
		return errCanceled
	case !inTime:
		return fmt.Errorf("%w after %s; raise limits.startTimeout if it needs longer", errTimeout, timeout)
	}
	return err
}

// errCanceled is the error of guest code stopped because its load was
// canceled.
var errCanceled = fmt.Errorf("stopped: %w (the neuron is shutting down, or the command was interrupted)", context.Canceled)

// arm starts the deadline of a call.
func (c *Context) arm(timeout time.Duration) { c.timer.Reset(timeout) }

// disarm ends the deadline of a call. It reports false when the deadline
// fired, or is firing: the instance must then be discarded even if the call
// itself succeeded, because its context is spent.
func (c *Context) disarm() bool { return c.timer.Stop() && !c.expired() }

// Release stops the timer for good.
func (c *Context) Release() { c.timer.Stop() }
