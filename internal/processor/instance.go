package processor

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/empirefederation/neuron/internal/guest"
)

// Instance is an instance of a processor version in its pool: the guest
// instance, which serves one call at a time, and what the pool and the
// runtime's Workers keep of it. The pool hands it to one caller at a time.
type Instance struct {
	guest.Instance

	// ID is NAME@VERSION#N, N counting the instances ever created for the
	// processor version; seq is N.
	ID      string
	seq     uint64
	Started time.Time
	// uses is bumped when a caller checks the instance out and again when
	// it hands it back: odd while a call holds it, and twice the calls
	// served when idle. Two uncontended adds per call, no lock.
	uses atomic.Uint64
	// retired asks for the instance to be replaced: it is destroyed rather
	// than reused when its call returns or when it is next checked out.
	retired atomic.Bool
}

// Busy reports whether a call holds the instance now.
func (in *Instance) Busy() bool { return in.uses.Load()%2 == 1 }

// Calls counts the calls the instance took, the one in progress included.
func (in *Instance) Calls() uint64 { return (in.uses.Load() + 1) / 2 }

// Retired reports whether the instance was marked for replacement (see
// Version.Retire).
func (in *Instance) Retired() bool { return in.retired.Load() }

// track adds a new instance to the processor's workers, numbering it.
func (p *Version) track(in *Instance) {
	in.seq = p.Record.instances.Add(1)
	in.ID = p.ID() + "#" + strconv.FormatUint(in.seq, 10)
	in.Started = time.Now()
	p.workersMu.Lock()
	p.workers[in] = struct{}{}
	p.workersMu.Unlock()
}

// untrack removes an instance about to be closed from the workers. After
// it, retire no longer touches the instance.
func (p *Version) untrack(in *Instance) {
	p.workersMu.Lock()
	delete(p.workers, in)
	p.workersMu.Unlock()
}

// Live reports whether in is still one of the processor's workers.
func (p *Version) Live(in *Instance) bool {
	p.workersMu.Lock()
	defer p.workersMu.Unlock()
	_, ok := p.workers[in]
	return ok
}

// LiveInstances returns the processor's workers in creation order.
func (p *Version) LiveInstances() []*Instance {
	p.workersMu.Lock()
	ins := slices.Collect(maps.Keys(p.workers))
	p.workersMu.Unlock()
	slices.SortFunc(ins, func(a, b *Instance) int { return cmp.Compare(a.seq, b.seq) })
	return ins
}

// Retire marks in for replacement and, when interrupt is true, stops the
// call it may be running. It holds workersMu so that it never touches an
// instance that is being closed (untrack comes first). Interrupting an idle
// instance is harmless: a retired instance never serves again.
func (p *Version) Retire(in *Instance, interrupt bool) {
	p.workersMu.Lock()
	defer p.workersMu.Unlock()
	if _, ok := p.workers[in]; !ok {
		return
	}
	in.retired.Store(true)
	if interrupt {
		in.Interrupt()
	}
}

// Checkout returns an instance for one call, waiting at most wait for one.
// An instance retired while idle is replaced here rather than served.
func (p *Version) Checkout(ctx context.Context, wait time.Duration) (*Instance, error) {
	for {
		in, err := p.Pool.GetWithin(ctx, wait)
		if err != nil {
			return nil, err
		}
		if !in.retired.Load() {
			in.uses.Add(1)
			return in, nil
		}
		p.Pool.Retire(in)
	}
}

// Checkin hands an instance back after a call that ended with cerr: a
// retired one is replaced, a healthy one reused, a broken one discarded.
func (p *Version) Checkin(in *Instance, cerr *guest.CallError) {
	in.uses.Add(1)
	switch {
	case in.retired.Load():
		p.Pool.Retire(in)
	case in.Reusable(cerr):
		p.Pool.Put(in)
	default:
		p.Pool.Discard(in)
	}
}

// UnloadInstances stops every live instance of p, whose drain timed out,
// for good: a call running now ends with 503 unloaded, and the instance is
// destroyed when it comes back. It returns how many were busy.
func (p *Version) UnloadInstances() int {
	p.workersMu.Lock()
	defer p.workersMu.Unlock()
	busy := 0
	for in := range p.workers {
		if in.Busy() {
			busy++
		}
		in.retired.Store(true)
		in.Unload()
	}
	return busy
}

// RetireIdle replaces the idle instances marked retired: one that was
// retired as its call ended may have gone back idle before it saw the
// mark.
func (p *Version) RetireIdle() { p.Pool.RetireIdle((*Instance).Retired) }
