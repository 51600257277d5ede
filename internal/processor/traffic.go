package processor

import (
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

// Counters are one processor version's (or the router's) Traffic, added
// to with atomics on the request path. Requests is not stored: it is the
// sum of the three outcome counters, which saves an add per request and
// keeps a reading consistent.
type Counters struct {
	succeeded, clientErrors, serverErrors atomic.Uint64
	latencyNanos, bytesIn, bytesOut       atomic.Uint64
}

// Observe counts one answered request.
func (t *Counters) Observe(status int, d time.Duration, in, out int) {
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

// Read returns the counters as a Traffic row.
func (t *Counters) Read(plugin, version string) Traffic {
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

// Record is what the runtime keeps for one NAME@VERSION across loads:
// its traffic, its custom counters, and how many instances were ever
// created for it, which numbers worker ids so that an id is never reused
// while the runtime remembers the version.
type Record struct {
	plugin, version string
	epoch           uint64 // set at creation
	// Traffic counts the calls of every endpoint of the version.
	Traffic   Counters
	instances atomic.Uint64
	// custom are the version's custom counters and the event types it
	// emitted, within their caps (see custom.go).
	customMu sync.Mutex
	custom   customState
	// open counts the processors of the version open, loaded or
	// draining; guarded by Records.mu. At zero the version is retired:
	// its row is kept, in Records.retired.
	open int
}

// Read returns v's counters as a Traffic row.
func (v *Record) Read() Traffic {
	tr := v.Traffic.Read(v.plugin, v.version)
	tr.Epoch = v.epoch
	if c := v.CustomMetrics(); len(c) > 0 {
		tr.Custom = c
	}
	return tr
}
