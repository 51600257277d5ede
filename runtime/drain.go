package runtime

import (
	"context"
	"time"

	"github.com/empirefederation/neuron/internal/processor"
)

// drainPoll is how often a drain looks at the calls its version still
// runs. Drains run in the background, so this costs no request anything.
const drainPoll = 5 * time.Millisecond

// retire takes p, already out of the published snapshot, out of service:
// calls that reach it from now on go to the current snapshot (see
// endpoint.handle), and a background drain closes it once its calls in
// flight are answered. Sync does not wait for the drain: a swap must not
// take as long as the longest call of the version it replaces.
func (rt *Runtime) retire(p *processor.Version) {
	p.Retiring.Store(true)
	rt.retiredMu.Lock()
	rt.retired[p] = struct{}{}
	rt.retiredMu.Unlock()
	rt.drains.Add(1)
	go rt.drain(p)
}

// drain waits until p runs no call, or Options.DrainTimeout passes and its
// calls are interrupted (they answer 503 unloaded), then closes p. When
// the runtime closes first, it leaves p to Close.
func (rt *Runtime) drain(p *processor.Version) {
	defer rt.drains.Done()
	start := time.Now()
	deadline := time.NewTimer(rt.opts.DrainTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	interrupted := 0
wait:
	for p.Inflight.Load() > 0 {
		select {
		case <-rt.bg.Done():
			return
		case <-deadline.C:
			interrupted = p.UnloadInstances()
			break wait
		case <-tick.C:
		}
	}
	ctx, cancel := context.WithTimeout(rt.bg, processor.CloseGrace)
	defer cancel()
	// Closing the pool first turns away the calls still waiting for an
	// instance (503 unloaded); then the calls answer and leave.
	err := p.Pool.Close(ctx)
	for p.Inflight.Load() > 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	if rt.bg.Err() != nil {
		return // Close closes p
	}
	if cerr := p.Close(ctx); err == nil {
		err = cerr
	}
	rt.retiredMu.Lock()
	delete(rt.retired, p)
	rt.retiredMu.Unlock()
	log := p.Log.Info
	if interrupted > 0 || err != nil {
		log = p.Log.Warn
	}
	log("processor closed after its drain", "took", time.Since(start).Round(time.Millisecond),
		"interrupted_calls", interrupted, "drain_timeout", rt.opts.DrainTimeout, "err", err)
}

// Drain makes every processor endpoint answer 503 with code "draining" and
// a Retry-After, so that a load balancer or the federation sends the
// traffic elsewhere; calls in progress finish. The neuron's own routes
// (/health, /ready, /metrics, the update route) are not affected, and
// nothing is unloaded. Resume undoes it. Reporting "draining" on /ready is
// the caller's business, through Draining. The check costs a request one
// atomic load.
func (rt *Runtime) Drain() {
	if rt.srv.Draining.CompareAndSwap(false, true) {
		rt.log.Info("draining: processor endpoints answer 503 draining until resumed")
	}
}

// Resume makes the processor endpoints serve again after Drain.
func (rt *Runtime) Resume() {
	if rt.srv.Draining.CompareAndSwap(true, false) {
		rt.log.Info("resumed: processor endpoints serve again")
	}
}

// Draining reports whether Drain is in force.
func (rt *Runtime) Draining() bool { return rt.srv.Draining.Load() }
