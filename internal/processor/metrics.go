package processor

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus series a processor version adds to: its
// custom counters, what its caps dropped, and where its code came from.
// They live while any processor of the version and digest is open; with
// the last one closed, its series in Custom, Dropped and PerVersion are
// deleted, so that swapping builds back and forth does not grow /metrics
// without bound.
type Metrics struct {
	Custom *prometheus.CounterVec
	// Dropped counts what a processor's caps refused: metric_add calls
	// (kind metric) and events (kind event); see custom.go.
	Dropped *prometheus.CounterVec
	// Opens counts the processor versions opened, by CodeCompiled or
	// CodeKept: how often a swap skipped compiling.
	Opens *prometheus.CounterVec
	// PerVersion are the runtime's other vectors labelled by plugin,
	// version and digest (the request path's), deleted with a version's
	// series.
	PerVersion []*prometheus.MetricVec

	// live counts the open processors of each NAME@VERSION@DIGEST12, so
	// that the series of a version are deleted when its last processor
	// closes, and not while a reload of the same bytes still uses them.
	liveMu sync.Mutex
	live   map[string]int
}

// NewMetrics returns the series of processor versions, to register with
// Collectors.
func NewMetrics(perVersion ...*prometheus.MetricVec) *Metrics {
	return &Metrics{
		Custom: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neuron_plugin_custom_total", Help: "Custom counters processors add through the metric_add host function.",
		}, []string{"plugin", "version", "digest", "name"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neuron_plugin_dropped_total",
			Help: "What a processor version's caps refused: metric_add calls on a name beyond its custom metrics cap (kind metric), events of a type beyond its event types cap (kind event).",
		}, []string{"plugin", "version", "digest", "kind"}),
		Opens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neuron_plugin_opens_total",
			Help: "Processor versions opened, by where their compiled module came from: compiled (decoded, validated and compiled, from the compilation cache when the bytes were seen before) or kept (taken over from a retired version of the same file).",
		}, []string{"code"}),
		PerVersion: perVersion,
		live:       map[string]int{},
	}
}

// Collectors are the series of m, for a registry.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Custom, m.Dropped, m.Opens}
}

// seriesKey identifies the series of one processor version.
func seriesKey(p *Version) string { return p.ID() + "@" + p.Digest12() }

// acquire records an open processor of p's version, whose series must live.
func (m *Metrics) acquire(p *Version) {
	m.liveMu.Lock()
	m.live[seriesKey(p)]++
	m.liveMu.Unlock()
}

// release records that p closed; with the last processor of its version
// and digest gone, its series are deleted.
func (m *Metrics) release(p *Version) {
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	key := seriesKey(p)
	if m.live[key]--; m.live[key] > 0 {
		return
	}
	delete(m.live, key)
	l := prometheus.Labels{"plugin": p.Name(), "version": p.Version(), "digest": p.Digest12()}
	for _, v := range m.PerVersion {
		v.DeletePartialMatch(l)
	}
	m.Custom.DeletePartialMatch(l)
	m.Dropped.DeletePartialMatch(l)
}
