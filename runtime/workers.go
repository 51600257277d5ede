package runtime

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/empirefederation/neuron/internal/guest"
)

// WorkerInfo describes one pool instance ("worker") of a processor version.
type WorkerInfo struct {
	// ID is NAME@VERSION#N, N counting the instances ever created for that
	// processor version (across reloads too), so an id is never reused.
	ID      string `json:"id"`
	Plugin  string `json:"plugin"`
	Version string `json:"version"`
	// Busy is true while a call holds the instance.
	Busy bool `json:"busy"`
	// Calls counts the calls the instance took, the one in progress included.
	Calls uint64 `json:"calls"`
	// Started is when the instance finished initializing.
	Started time.Time `json:"started"`
}

// SelectAllWorkers is the RestartWorkers selector of every instance.
const SelectAllWorkers = "all"

// retirePoll is how often RestartWorkers looks for the instances it waits
// on: retired ones that came back idle are replaced, gone ones counted.
const retirePoll = 5 * time.Millisecond

// Workers lists the live instances of the processors loaded now, sorted by
// processor, version and creation.
func (rt *Runtime) Workers() []WorkerInfo {
	var ws []WorkerInfo
	for _, p := range rt.current.Load().procs {
		for _, in := range p.liveInstances() {
			uses := in.uses.Load() // odd while busy; see instance.uses
			ws = append(ws, WorkerInfo{ID: in.id, Plugin: p.name(), Version: p.version(),
				Busy: uses%2 == 1, Calls: (uses + 1) / 2, Started: in.started})
		}
	}
	slices.SortStableFunc(ws, func(a, b WorkerInfo) int {
		return cmp.Or(cmp.Compare(a.Plugin, b.Plugin), cmp.Compare(a.Version, b.Version))
	})
	return ws
}

// RestartWorkers replaces the instances selected by sel: "all", a processor
// name (every loaded version), "NAME@VERSION", or a worker id from Workers.
// It returns how many instances were selected.
//
// Graceful: idle instances are replaced now, busy ones when their call
// returns, and RestartWorkers waits (until ctx ends) for the busy ones to
// finish. Not graceful: busy calls are interrupted now and answer 503 with
// code worker_restarted, and every selected instance is replaced;
// RestartWorkers waits for the interrupted calls to end. Either way the
// pools refill to their minimum in the background, and instances created
// meanwhile are not selected. See docs/design.md, "How is a worker
// restarted?".
//
// # Errors
//
// An unknown selector is an error that lists the valid ones, and nothing is
// restarted. When ctx ends before every selected instance is gone, the
// error says how many are left; they are still replaced when their calls
// return.
func (rt *Runtime) RestartWorkers(ctx context.Context, sel string, graceful bool) (int, error) {
	s := rt.current.Load()
	match, err := s.selectWorkers(sel)
	if err != nil {
		return 0, err
	}
	type worker struct {
		p  *processor
		in *instance
	}
	var selected []worker
	var procs []*processor // those with selected instances
	for _, p := range s.procs {
		n := len(selected)
		for _, in := range p.liveInstances() {
			if match(p, in) {
				selected = append(selected, worker{p, in})
				p.retire(in, !graceful)
			}
		}
		if len(selected) > n {
			procs = append(procs, p)
		}
	}
	rt.log.Info("restarting workers", "selector", sel, "graceful", graceful, "workers", len(selected))
	tick := time.NewTicker(retirePoll)
	defer tick.Stop()
	for {
		// A busy instance retired as its call ended may have gone back idle
		// before it saw the mark: replace such ones on every round.
		for _, p := range procs {
			p.pool.RetireIdle(isRetired)
		}
		left := 0
		for _, w := range selected {
			if w.p.live(w.in) {
				left++
			}
		}
		if left == 0 {
			return len(selected), nil
		}
		select {
		case <-ctx.Done():
			return len(selected), fmt.Errorf("restart workers %q: %d of %d selected instances still busy; they are replaced when their calls return: %w",
				sel, left, len(selected), context.Cause(ctx))
		case <-tick.C:
		}
	}
}

func isRetired(in *instance) bool { return in.retired.Load() }

// selectWorkers returns the predicate of selector sel, or an error listing
// the valid selectors when sel matches nothing loaded.
func (s *snapshot) selectWorkers(sel string) (func(*processor, *instance) bool, error) {
	var match func(*processor, *instance) bool
	switch {
	case sel == SelectAllWorkers:
		return func(*processor, *instance) bool { return true }, nil
	case strings.Contains(sel, "#"):
		match = func(_ *processor, in *instance) bool { return in.id == sel }
	case strings.Contains(sel, "@"):
		match = func(p *processor, _ *instance) bool { return p.id() == sel }
	default:
		match = func(p *processor, _ *instance) bool { return p.name() == sel }
	}
	for _, p := range s.procs {
		if strings.Contains(sel, "#") {
			if slices.ContainsFunc(p.liveInstances(), func(in *instance) bool { return match(p, in) }) {
				return match, nil
			}
		} else if match(p, nil) {
			return match, nil
		}
	}
	return nil, s.unknownSelector(sel)
}

// maxListedWorkers bounds the worker ids an unknown-selector error lists.
const maxListedWorkers = 10

// unknownSelector is the error for a selector that matches nothing.
func (s *snapshot) unknownSelector(sel string) error {
	names, ids, workers := map[string]bool{}, []string{}, []string{}
	for _, p := range s.procs {
		names[p.name()] = true
		ids = append(ids, p.id())
		for _, in := range p.liveInstances() {
			workers = append(workers, in.id)
		}
	}
	if len(workers) > maxListedWorkers {
		workers = append(workers[:maxListedWorkers], "… "+strconv.Itoa(len(workers)-maxListedWorkers)+" more (see Workers)")
	}
	list := func(xs []string) string {
		if len(xs) == 0 {
			return "none loaded"
		}
		return strings.Join(xs, ", ")
	}
	return fmt.Errorf("restart workers: unknown selector %q: use %q, a processor name (%s), NAME@VERSION (%s) or a worker id (%s)",
		sel, SelectAllWorkers, list(slices.Sorted(maps.Keys(names))), list(ids), list(workers))
}

// instance is an instance of a processor version in its pool: the guest
// instance, which serves one call at a time, and what the pool and Workers
// keep of it. The pool hands it to one caller at a time.
type instance struct {
	guest.Instance

	// id is NAME@VERSION#N, N counting the instances ever created for the
	// processor version; seq is N.
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

// track adds a new instance to the processor's workers, numbering it.
func (p *processor) track(in *instance) {
	in.seq = p.state.instances.Add(1)
	in.id = p.id() + "#" + strconv.FormatUint(in.seq, 10)
	in.started = time.Now()
	p.workersMu.Lock()
	p.workers[in] = struct{}{}
	p.workersMu.Unlock()
}

// untrack removes an instance about to be closed from the workers. After
// it, retire no longer touches the instance.
func (p *processor) untrack(in *instance) {
	p.workersMu.Lock()
	delete(p.workers, in)
	p.workersMu.Unlock()
}

// live reports whether in is still one of the processor's workers.
func (p *processor) live(in *instance) bool {
	p.workersMu.Lock()
	defer p.workersMu.Unlock()
	_, ok := p.workers[in]
	return ok
}

// liveInstances returns the processor's workers in creation order.
func (p *processor) liveInstances() []*instance {
	p.workersMu.Lock()
	ins := slices.Collect(maps.Keys(p.workers))
	p.workersMu.Unlock()
	slices.SortFunc(ins, func(a, b *instance) int { return cmp.Compare(a.seq, b.seq) })
	return ins
}

// retire marks in for replacement and, when interrupt is true, stops the
// call it may be running. It holds workersMu so that it never touches an
// instance that is being closed (untrack comes first). Interrupting an idle
// instance is harmless: a retired instance never serves again.
func (p *processor) retire(in *instance, interrupt bool) {
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

// checkout returns an instance for one call, waiting at most wait for one.
// An instance retired while idle is replaced here rather than served.
func (p *processor) checkout(ctx context.Context, wait time.Duration) (*instance, error) {
	for {
		in, err := p.pool.GetWithin(ctx, wait)
		if err != nil {
			return nil, err
		}
		if !in.retired.Load() {
			in.uses.Add(1)
			return in, nil
		}
		p.pool.Retire(in)
	}
}

// checkin hands an instance back after a call that ended with cerr: a
// retired one is replaced, a healthy one reused, a broken one discarded.
func (p *processor) checkin(in *instance, cerr *CallError) {
	in.uses.Add(1)
	switch {
	case in.retired.Load():
		p.pool.Retire(in)
	case in.Reusable(cerr):
		p.pool.Put(in)
	default:
		p.pool.Discard(in)
	}
}
