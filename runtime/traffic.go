package runtime

import (
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Traffic is what one processor version served since the runtime started:
// cumulative counters; callers diff two readings to get an interval.
//
// The counters of a processor version outlive the processor: a LoadDir
// that loads the same NAME@VERSION again continues them, and a version
// replaced, unloaded or rolled back keeps its row, with everything it
// served up to its last call, until MaxRetiredVersions versions retired
// after it. So a reader that reads at least once between that many
// retirements counts every request exactly once. See docs/design.md, "Why
// do traffic counters outlive a reload?".
type Traffic struct {
	// Plugin and Version name the processor version; both are empty for
	// the row of requests no processor claimed (404 and 405 from the router).
	Plugin  string `json:"plugin"`
	Version string `json:"version"`
	// Epoch identifies this run of the row's counters. It changes only
	// when the runtime forgot the version (MaxRetiredVersions) and loaded
	// it again, counting from zero: a reader takes a row whose Epoch
	// differs from its last reading's as counting from zero.
	Epoch uint64 `json:"epoch"`
	// Requests is Succeeded + ClientErrors + ServerErrors.
	Requests uint64 `json:"requests"`
	// Succeeded counts answers with a status below 400.
	Succeeded uint64 `json:"succeeded"`
	// ClientErrors counts 4xx answers, 499 (the client went away) included.
	ClientErrors uint64 `json:"clientErrors"`
	// ServerErrors counts 5xx answers: guest faults, timeouts, overload.
	ServerErrors uint64 `json:"serverErrors"`
	// LatencyNanos is the sum of the requests' durations, from routing to
	// the last byte handed to the connection.
	LatencyNanos uint64 `json:"latencyNanos"`
	// BytesIn is the request body bytes accepted (a body refused as too
	// large counts nothing); BytesOut is the response body bytes written,
	// error bodies included.
	BytesIn  uint64 `json:"bytesIn"`
	BytesOut uint64 `json:"bytesOut"`
	// Custom are the version's custom counters (metric_add), with what
	// its caps dropped under CustomDroppedMetrics and CustomDroppedEvents:
	// cumulative like the rest, continued across loads of the version.
	Custom map[string]float64 `json:"customMetrics,omitempty"`
}

// trafficCounters are one processor version's (or the router's) Traffic,
// added to with atomics on the request path. Requests is not stored: it is
// the sum of the three outcome counters, which saves an add per request and
// keeps a reading consistent.
type trafficCounters struct {
	succeeded, clientErrors, serverErrors atomic.Uint64
	latencyNanos, bytesIn, bytesOut       atomic.Uint64
}

// observe counts one answered request.
func (t *trafficCounters) observe(status int, d time.Duration, in, out int) {
	switch {
	case status < 400:
		t.succeeded.Add(1)
	case status < 500:
		t.clientErrors.Add(1)
	default:
		t.serverErrors.Add(1)
	}
	t.latencyNanos.Add(uint64(max(d, 0)))
	if in > 0 {
		t.bytesIn.Add(uint64(in))
	}
	if out > 0 {
		t.bytesOut.Add(uint64(out))
	}
}

// read returns the counters as a Traffic row.
func (t *trafficCounters) read(plugin, version string) Traffic {
	tr := Traffic{
		Plugin: plugin, Version: version,
		Succeeded: t.succeeded.Load(), ClientErrors: t.clientErrors.Load(), ServerErrors: t.serverErrors.Load(),
		LatencyNanos: t.latencyNanos.Load(), BytesIn: t.bytesIn.Load(), BytesOut: t.bytesOut.Load(),
	}
	tr.Requests = tr.Succeeded + tr.ClientErrors + tr.ServerErrors
	return tr
}

// MaxRetiredVersions is how many processor versions that are no longer
// loaded (replaced, unloaded, rolled back from, closed with the runtime)
// the runtime keeps the counters of, so that the reports read what they
// served after their last reading. Past it the version retired longest
// ago is forgotten, and a later load of it counts from zero under a new
// Traffic.Epoch. A version that retired having served nothing is
// forgotten at once. A constant: the heartbeat and analytics read the
// counters every interval, and no deployment retires this many versions
// in one. See docs/design.md, "Why do traffic counters outlive a reload?".
const MaxRetiredVersions = 100

// versionState is what the runtime keeps for one NAME@VERSION across loads:
// its traffic, its custom counters, and how many instances were ever
// created for it, which numbers worker ids so that an id is never reused
// while the runtime remembers the version.
type versionState struct {
	plugin, version string
	epoch           uint64 // set at creation
	traffic         trafficCounters
	instances       atomic.Uint64
	// custom are the version's custom counters and the event types it
	// emitted, within their caps (see custom.go).
	customMu sync.Mutex
	custom   customState
	// open counts the processors of the version open, loaded or
	// draining; guarded by Runtime.versionsMu. At zero the version is
	// retired: its row is kept, in Runtime.retiredVersions.
	open int
}

// openVersion returns the state of processor version plugin@version,
// creating it on first use or after the runtime forgot it, and counts one
// more processor of it open until closeVersion. It runs at load, never
// per request.
func (rt *services) openVersion(plugin, version string) *versionState {
	id := plugin + "@" + version
	rt.versionsMu.Lock()
	defer rt.versionsMu.Unlock()
	v := rt.versions[id]
	if v == nil {
		rt.epochs++
		v = &versionState{plugin: plugin, version: version, epoch: rt.epochs, custom: newCustomState()}
		rt.versions[id] = v
	}
	if v.open == 0 {
		rt.retiredVersions = slices.DeleteFunc(rt.retiredVersions, func(r *versionState) bool { return r == v })
	}
	v.open++
	return v
}

// closeVersion records that a processor of v closed. With the last one, v
// retires: its row stays in Traffic, and the row retired longest ago past
// MaxRetiredVersions is forgotten. A row that counted nothing is
// forgotten at once: no reader can miss anything of it.
func (rt *services) closeVersion(v *versionState) {
	rt.versionsMu.Lock()
	defer rt.versionsMu.Unlock()
	if v.open--; v.open > 0 {
		return
	}
	id := v.plugin + "@" + v.version
	if tr := v.read(); tr.Requests == 0 && len(tr.Custom) == 0 {
		delete(rt.versions, id)
		return
	}
	rt.retiredVersions = append(rt.retiredVersions, v)
	if over := len(rt.retiredVersions) - MaxRetiredVersions; over > 0 {
		for _, old := range rt.retiredVersions[:over] {
			delete(rt.versions, old.plugin+"@"+old.version)
		}
		rt.retiredVersions = slices.Delete(rt.retiredVersions, 0, over)
	}
}

// read returns v's counters as a Traffic row.
func (v *versionState) read() Traffic {
	tr := v.traffic.read(v.plugin, v.version)
	tr.Epoch = v.epoch
	if c := v.customMetrics(); len(c) > 0 {
		tr.Custom = c
	}
	return tr
}

// Traffic returns one row per processor version loaded now, in file order,
// then one per version that left (draining, or retired and remembered:
// see MaxRetiredVersions) by NAME@VERSION, then one row with Plugin ""
// for the requests no processor claimed (404 and 405 from the router).
// The counters are cumulative since New, or since the version was loaded
// again after the runtime forgot it (a new Epoch).
func (rt *Runtime) Traffic() []Traffic {
	s := rt.current.Load()
	rows := make([]Traffic, 0, len(s.procs)+1)
	seen := make(map[*versionState]bool, len(s.procs))
	for _, p := range s.procs {
		if !seen[p.state] {
			seen[p.state] = true
			rows = append(rows, p.state.read())
		}
	}
	rt.versionsMu.Lock()
	left := make([]*versionState, 0, len(rt.versions))
	for _, id := range slices.Sorted(maps.Keys(rt.versions)) {
		if v := rt.versions[id]; !seen[v] {
			left = append(left, v)
		}
	}
	rt.versionsMu.Unlock()
	for _, v := range left {
		rows = append(rows, v.read())
	}
	return append(rows, rt.metrics.unclaimed.read("", ""))
}

// InFlight returns how many processor calls are in progress now, waiting
// for an instance included, across the processor versions loaded and
// those still draining after a swap or an unload.
func (rt *Runtime) InFlight() int {
	var n int64
	for _, p := range rt.current.Load().procs {
		n += p.inflight.Load()
	}
	rt.retiredMu.Lock()
	for p := range rt.retired {
		n += p.inflight.Load()
	}
	rt.retiredMu.Unlock()
	return int(n)
}

// Waiting returns how many callers are waiting for an instance now, summed
// over the pools of the processors loaded: the heartbeat's queueSize.
func (rt *Runtime) Waiting() int {
	n := 0
	for _, p := range rt.current.Load().procs {
		n += p.pool.Stats().Waiting
	}
	return n
}

// countingWriter records the status and body bytes of a response, for the
// requests the router answers itself (the unclaimed row of Traffic).
type countingWriter struct {
	http.ResponseWriter
	status, n int
}

// WriteHeader records the first status written.
func (w *countingWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write counts the body bytes written.
func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveUnclaimed lets the router answer a request no endpoint matched (404,
// 405, or a redirect to the clean path) and counts it in the unclaimed row.
// Only misses pay for the wrapper.
func (s *snapshot) serveUnclaimed(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cw := &countingWriter{ResponseWriter: w}
	s.router.ServeHTTP(cw, r)
	s.unclaimed.observe(statusOrOK(cw.status), time.Since(start), 0, cw.n)
}

// statusOrOK is the status net/http sends when a handler wrote nothing.
func statusOrOK(status int) int {
	if status == 0 {
		return http.StatusOK
	}
	return status
}
