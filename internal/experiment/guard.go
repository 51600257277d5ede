package experiment

import (
	"fmt"
	"sync"
	"time"

	"github.com/empirefederation/neuron/federation"
)

// Metrics a guardrail watches, the Stopped.Metric values. They are the
// field names of federation.Guardrails on the wire.
const (
	// MetricErrorRate is the share of calls that answered 5xx, in percent.
	MetricErrorRate = "errorRate"
	// MetricResponseTime is the mean latency, in milliseconds.
	MetricResponseTime = "responseTime"
)

// markEvery is how many readings Check keeps per window at most: a reading
// is kept when the last one is older than window/markEvery, which bounds
// memory and makes the window at most 1/markEvery longer than asked.
const markEvery = 30

// Stopped says why Check stopped a variant: which metric went past which
// threshold, over how long and how many calls. The runtime turns it into an
// experiment_variant_stopped event.
type Stopped struct {
	// Variant is the index of the stopped variant; Name its name.
	Variant int
	Name    string
	// Metric is MetricErrorRate or MetricResponseTime.
	Metric string
	// Value is the metric over the window (percent or milliseconds);
	// Threshold the guardrail it went past.
	Value, Threshold float64
	// Window is the time the numbers cover and Samples the calls in it.
	Window  time.Duration
	Samples uint64
	// At is the time passed to the Check that stopped the variant.
	At time.Time
}

// String says why, for logs and VariantStats.StopReason, for example
// `error rate 10.00% > 5% over 30s (200 calls)`.
func (s Stopped) String() string {
	if s.Metric == MetricErrorRate {
		return fmt.Sprintf("error rate %.2f%% > %g%% over %s (%d calls)", s.Value, s.Threshold, s.Window, s.Samples)
	}
	return fmt.Sprintf("mean response time %.1fms > %gms over %s (%d calls)", s.Value, s.Threshold, s.Window, s.Samples)
}

// guard is the windowed evaluator's state: the limits and the readings of
// the cumulative counters that windows are measured from.
type guard struct {
	limits     federation.Guardrails
	window     time.Duration
	minSamples int64

	mu    sync.Mutex // serializes Check
	marks []mark     // in time order; marks[0] is the base of the window
}

// mark is a reading of every variant's cumulative counters at a time.
type mark struct {
	at     time.Time
	totals []totals
}

// Check judges every variant on its calls of the last window and stops
// those that break a guardrail: an error rate (5xx share, in percent) above
// the guardrail's errorRate, or a mean latency (in milliseconds) above its
// responseTime. It returns the variants it stopped now, each once; a stopped
// variant stays stopped for the life of the Split, and Assign and
// AssignRandom send its calls to the control.
//
// The control is never stopped: it is where traffic goes back to. A variant
// with fewer calls in the window than the minimum (DefaultMinSamples) is
// not judged.
//
// Call Check periodically, about once a second, with a monotonic clock
// (time.Now) or, in tests, a synthetic one. The window is measured between
// readings Check takes of the counters: it covers at least Window (30s by
// default) and at most Window plus the Check period or Window/30, whichever
// is longer. Until a Window has passed since the first Check, it covers
// every call since Compile. See docs/design.md, "Why weighted rendezvous
// hashing?" for why stopping sends only the stopped variant's keys away.
func (s *Split) Check(now time.Time) []Stopped {
	g := &s.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	cur := make([]totals, len(s.stats))
	for i := range s.stats {
		cur[i] = s.stats[i].totals()
	}
	if len(g.marks) == 0 {
		g.marks = append(g.marks, mark{at: now, totals: make([]totals, len(cur))})
	}
	// The base is the newest reading at least a window old, else the first.
	cut := now.Add(-g.window)
	for len(g.marks) > 1 && !g.marks[1].at.After(cut) {
		g.marks = g.marks[1:]
	}
	base := g.marks[0]
	var stopped []Stopped
	for i := range cur {
		if i == s.control || s.stopped[i].Load() != nil {
			continue
		}
		st, broke := g.judge(cur[i].sub(base.totals[i]))
		if !broke {
			continue
		}
		st.Variant, st.Name, st.Window, st.At = i, s.variants[i].Name, max(now.Sub(base.at), 0), now
		s.stopped[i].Store(&st)
		stopped = append(stopped, st)
	}
	if last := g.marks[len(g.marks)-1]; now.Sub(last.at) >= g.window/markEvery {
		g.marks = append(g.marks, mark{at: now, totals: cur})
	}
	return stopped
}

// judge says whether the calls d of one window break a guardrail, and
// which. The error rate is checked first: failing calls matter more than
// slow ones.
func (g *guard) judge(d totals) (Stopped, bool) {
	if d.count == 0 || d.count < uint64(g.minSamples) {
		return Stopped{}, false
	}
	n := float64(d.count)
	if errRate := 100 * float64(d.errors) / n; g.limits.ErrorRate > 0 && errRate > g.limits.ErrorRate {
		return Stopped{Metric: MetricErrorRate, Value: errRate, Threshold: g.limits.ErrorRate, Samples: d.count}, true
	}
	if mean := float64(d.sumNs) / n / 1e6; g.limits.ResponseTime > 0 && mean > g.limits.ResponseTime {
		return Stopped{Metric: MetricResponseTime, Value: mean, Threshold: g.limits.ResponseTime, Samples: d.count}, true
	}
	return Stopped{}, false
}
