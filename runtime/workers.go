package runtime

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/empirefederation/neuron/internal/processor"
	"github.com/empirefederation/neuron/internal/route"
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
	for _, p := range rt.srv.Current.Load().Procs {
		for _, in := range p.LiveInstances() {
			ws = append(ws, WorkerInfo{ID: in.ID, Plugin: p.Name(), Version: p.Version(),
				Busy: in.Busy(), Calls: in.Calls(), Started: in.Started})
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
	s := rt.srv.Current.Load()
	match, err := selectWorkers(s, sel)
	if err != nil {
		return 0, err
	}
	type worker struct {
		p  *processor.Version
		in *processor.Instance
	}
	var selected []worker
	var procs []*processor.Version // those with selected instances
	for _, p := range s.Procs {
		n := len(selected)
		for _, in := range p.LiveInstances() {
			if match(p, in) {
				selected = append(selected, worker{p, in})
				p.Retire(in, !graceful)
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
			p.RetireIdle()
		}
		left := 0
		for _, w := range selected {
			if w.p.Live(w.in) {
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

// selectWorkers returns the predicate of selector sel, or an error listing
// the valid selectors when sel matches nothing loaded.
func selectWorkers(s *route.Snapshot, sel string) (func(*processor.Version, *processor.Instance) bool, error) {
	var match func(*processor.Version, *processor.Instance) bool
	switch {
	case sel == SelectAllWorkers:
		return func(*processor.Version, *processor.Instance) bool { return true }, nil
	case strings.Contains(sel, "#"):
		match = func(_ *processor.Version, in *processor.Instance) bool { return in.ID == sel }
	case strings.Contains(sel, "@"):
		match = func(p *processor.Version, _ *processor.Instance) bool { return p.ID() == sel }
	default:
		match = func(p *processor.Version, _ *processor.Instance) bool { return p.Name() == sel }
	}
	for _, p := range s.Procs {
		if strings.Contains(sel, "#") {
			if slices.ContainsFunc(p.LiveInstances(), func(in *processor.Instance) bool { return match(p, in) }) {
				return match, nil
			}
		} else if match(p, nil) {
			return match, nil
		}
	}
	return nil, unknownSelector(s, sel)
}

// maxListedWorkers bounds the worker ids an unknown-selector error lists.
const maxListedWorkers = 10

// unknownSelector is the error for a selector that matches nothing.
func unknownSelector(s *route.Snapshot, sel string) error {
	names, ids, workers := map[string]bool{}, []string{}, []string{}
	for _, p := range s.Procs {
		names[p.Name()] = true
		ids = append(ids, p.ID())
		for _, in := range p.LiveInstances() {
			workers = append(workers, in.ID)
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
