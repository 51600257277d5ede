package runtime

import (
	"github.com/empirefederation/neuron/internal/processor"
)

// Traffic is what one processor version served since the runtime started:
// cumulative counters; callers diff two readings to get an interval. The
// counters of a version outlive it: see processor.Traffic and
// MaxRetiredVersions.
type Traffic = processor.Traffic

// MaxRetiredVersions is how many processor versions that are no longer
// loaded the runtime keeps the counters of: see
// processor.MaxRetiredVersions.
const MaxRetiredVersions = processor.MaxRetiredVersions

// Traffic returns one row per processor version loaded now, in file order,
// then one per version that left (draining, or retired and remembered:
// see MaxRetiredVersions) by NAME@VERSION, then one row with Plugin ""
// for the requests no processor claimed (404 and 405 from the router).
// The counters are cumulative since New, or since the version was loaded
// again after the runtime forgot it (a new Epoch).
func (rt *Runtime) Traffic() []Traffic {
	s := rt.srv.Current.Load()
	rows := make([]Traffic, 0, len(s.Procs)+1)
	seen := make(map[*processor.Record]bool, len(s.Procs))
	for _, p := range s.Procs {
		if !seen[p.Record] {
			seen[p.Record] = true
			rows = append(rows, p.Record.Read())
		}
	}
	for _, v := range rt.svc.Records.All() {
		if !seen[v] {
			rows = append(rows, v.Read())
		}
	}
	return append(rows, rt.srv.Metrics.Unclaimed())
}

// InFlight returns how many processor calls are in progress now, waiting
// for an instance included, across the processor versions loaded and
// those still draining after a swap or an unload.
func (rt *Runtime) InFlight() int {
	var n int64
	for _, p := range rt.srv.Current.Load().Procs {
		n += p.Inflight.Load()
	}
	rt.retiredMu.Lock()
	for p := range rt.retired {
		n += p.Inflight.Load()
	}
	rt.retiredMu.Unlock()
	return int(n)
}

// Waiting returns how many callers are waiting for an instance now, summed
// over the pools of the processors loaded: the heartbeat's queueSize.
func (rt *Runtime) Waiting() int {
	n := 0
	for _, p := range rt.srv.Current.Load().Procs {
		n += p.Pool.Stats().Waiting
	}
	return n
}
