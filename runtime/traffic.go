package runtime

import (
	"net/http"
	"sync/atomic"
	"time"
)

// Traffic is what one processor version served since the runtime started:
// cumulative counters; callers diff two readings to get an interval.
//
// The counters of a processor version live as long as the runtime, not the
// processor: a LoadDir that loads the same NAME@VERSION again continues
// them, so they only ever increase. See docs/design.md, "Why do traffic
// counters outlive a reload?".
type Traffic struct {
	// Plugin and Version name the processor version; both are empty for
	// the row of requests no processor claimed (404 and 405 from the router).
	Plugin  string `json:"plugin"`
	Version string `json:"version"`
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

// versionState is what the runtime keeps for one NAME@VERSION across loads:
// its traffic, and how many instances were ever created for it, which
// numbers worker ids so that an id is never reused.
type versionState struct {
	traffic   trafficCounters
	instances atomic.Uint64
}

// versionState returns the state of processor version id, creating it on
// first use. It runs at load, never per request.
func (rt *Runtime) versionState(id string) *versionState {
	rt.versionsMu.Lock()
	defer rt.versionsMu.Unlock()
	v := rt.versions[id]
	if v == nil {
		v = &versionState{}
		rt.versions[id] = v
	}
	return v
}

// Traffic returns one row per processor version loaded now, in file order,
// then one row with Plugin "" for the requests no processor claimed (404
// and 405 from the router). The counters are cumulative since New.
func (rt *Runtime) Traffic() []Traffic {
	s := rt.current.Load()
	rows := make([]Traffic, 0, len(s.procs)+1)
	for _, p := range s.procs {
		rows = append(rows, p.state.traffic.read(p.name(), p.version()))
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
