package runtime

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the runtime's Prometheus metrics. Per-request series are
// resolved once per endpoint (see endpointMetrics) so that the request path
// does no label hashing beyond the status code.
type metrics struct {
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	custom   *prometheus.CounterVec
	// dropped counts what a processor's caps refused: metric_add calls
	// (kind metric) and events (kind event); see custom.go.
	dropped  *prometheus.CounterVec
	events   *prometheus.CounterVec
	rejected prometheus.Counter
	// opens counts the processor versions opened, by codeCompiled or
	// codeKept: how often a swap skipped compiling.
	opens *prometheus.CounterVec
	// unclaimed is the traffic no processor claimed (404, 405).
	unclaimed trafficCounters

	// live counts the open processors of each NAME@VERSION@DIGEST12, so
	// that the series of a version are deleted when its last processor
	// closes, and not while a reload of the same bytes still uses them.
	liveMu sync.Mutex
	live   map[string]int
}

// endpointLabels name a processor version by name, version and the first
// 12 hex digits of its module's sha256 (two builds of one version are two
// series), then the endpoint.
var endpointLabels = []string{"plugin", "version", "digest", "method", "route"}

func newMetrics(reg prometheus.Registerer, rt *Runtime) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neuron_requests_total", Help: "Requests served by processor endpoints, by HTTP status.",
		}, append(endpointLabels, "status")),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neuron_request_errors_total", Help: "Failed processor calls, by error code (timeout, memory_limit, guest_trap, ...).",
		}, append(endpointLabels, "code")),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "neuron_request_duration_seconds", Help: "Time from receiving a request to writing its response.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, endpointLabels),
		custom: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neuron_plugin_custom_total", Help: "Custom counters processors add through the metric_add host function.",
		}, []string{"plugin", "version", "digest", "name"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neuron_plugin_dropped_total",
			Help: "What a processor version's caps refused: metric_add calls on a name beyond its custom metrics cap (kind metric), events of a type beyond its event types cap (kind event).",
		}, []string{"plugin", "version", "digest", "kind"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neuron_events_total", Help: "Events recorded, by type.",
		}, []string{"plugin", "type"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "neuron_plugins_rejected_total", Help: "Processor files rejected at load or swap (the version they would replace kept serving).",
		}),
		opens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neuron_plugin_opens_total",
			Help: "Processor versions opened, by where their compiled module came from: compiled (decoded, validated and compiled, from the compilation cache when the bytes were seen before) or kept (taken over from a retired version of the same file).",
		}, []string{"code"}),
		live: map[string]int{},
	}
	kept := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "neuron_plugin_codes_kept", Help: "Compiled modules of retired processor versions kept for a later version of the same file.",
	}, func() float64 { return float64(rt.kept.Len()) })
	guestMemory := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "neuron_guest_memory_bytes",
		Help: "Linear memory of the runtime's processor instances, in bytes. It lives outside the Go heap, so the go_memstats series do not count it.",
	}, func() float64 { return float64(rt.mem.Bytes()) })
	bodies := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "neuron_request_body_bytes",
		Help: "Bytes of request bodies held now, reserved from the request body budget (requestBodyBudget); requests beyond it are refused with 503 body_budget, counted in neuron_request_errors_total.",
	}, func() float64 { return float64(rt.bodies.used.Load()) })
	reg.MustRegister(m.requests, m.errors, m.latency, m.custom, m.dropped, m.events, m.rejected, m.opens, kept, guestMemory, bodies, poolCollector{rt}, experimentCollector{rt})
	return m
}

// seriesKey identifies the series of one processor version.
func seriesKey(p *processor) string { return p.id() + "@" + p.digest12() }

// acquire records an open processor of p's version, whose series must live.
func (m *metrics) acquire(p *processor) {
	m.liveMu.Lock()
	m.live[seriesKey(p)]++
	m.liveMu.Unlock()
}

// release records that p closed; with the last processor of its version
// and digest gone, its per-endpoint and custom series are deleted, so that
// swapping builds back and forth does not grow /metrics without bound.
func (m *metrics) release(p *processor) {
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	key := seriesKey(p)
	if m.live[key]--; m.live[key] > 0 {
		return
	}
	delete(m.live, key)
	l := prometheus.Labels{"plugin": p.name(), "version": p.version(), "digest": p.digest12()}
	m.requests.DeletePartialMatch(l)
	m.errors.DeletePartialMatch(l)
	m.latency.DeletePartialMatch(l)
	m.custom.DeletePartialMatch(l)
	m.dropped.DeletePartialMatch(l)
}

// endpointMetrics are one endpoint's series, and the traffic counters of
// its processor version, resolved when the snapshot is built.
type endpointMetrics struct {
	requests *prometheus.CounterVec // curried down to the status label
	errors   *prometheus.CounterVec // curried down to the code label
	latency  prometheus.Observer
	byStatus sync.Map // int → prometheus.Counter
	traffic  *trafficCounters
}

// endpoint resolves the series of one endpoint, labelled with
// endpointLabels' values in order, counting its traffic into t.
func (m *metrics) endpoint(t *trafficCounters, labels ...string) *endpointMetrics {
	l := prometheus.Labels{}
	for i, name := range endpointLabels {
		l[name] = labels[i]
	}
	return &endpointMetrics{
		requests: m.requests.MustCurryWith(l),
		errors:   m.errors.MustCurryWith(l),
		latency:  m.latency.With(l),
		traffic:  t,
	}
}

// observe counts one answered request: its Prometheus series and its
// processor version's Traffic.
func (e *endpointMetrics) observe(x exchange, d time.Duration) {
	c, ok := e.byStatus.Load(x.status)
	if !ok {
		c, _ = e.byStatus.LoadOrStore(x.status, e.requests.WithLabelValues(strconv.Itoa(x.status)))
	}
	c.(prometheus.Counter).Inc()
	e.latency.Observe(d.Seconds())
	e.traffic.observe(x.status, d, x.in, x.out)
}

// poolCollector reports the pools of the processors loaded now, so that an
// unloaded processor's series disappear with it.
type poolCollector struct{ rt *Runtime }

var (
	poolLabels        = []string{"plugin", "version", "digest"}
	poolInstancesDesc = prometheus.NewDesc("neuron_pool_instances", "Instances of a processor version, by state (busy, idle).",
		append(poolLabels, "state"), nil)
	poolWaitingDesc = prometheus.NewDesc("neuron_pool_waiting", "Callers waiting for an instance.",
		poolLabels, nil)
	poolCreatedDesc = prometheus.NewDesc("neuron_pool_instances_created_total", "Instances created.",
		poolLabels, nil)
	poolDiscardedDesc = prometheus.NewDesc("neuron_pool_instances_discarded_total", "Instances thrown away after a trap, timeout or broken limit.",
		poolLabels, nil)
	poolRetiredDesc = prometheus.NewDesc("neuron_pool_instances_retired_total", "Instances replaced on request (restart_worker).",
		poolLabels, nil)
	stackBytesDesc = prometheus.NewDesc("neuron_guest_stack_bytes",
		"Call stacks held by the live instances of a processor version, in bytes: on the Go heap, outside memoryPages; each function handle keeps at most 1 MiB between calls.",
		poolLabels, nil)
	stackResetsDesc = prometheus.NewDesc("neuron_guest_stack_resets_total",
		"Function handles replaced after a call because their call stack had grown past 1 MiB (a deep recursion), releasing it.",
		poolLabels, nil)
)

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolInstancesDesc
	ch <- poolWaitingDesc
	ch <- poolCreatedDesc
	ch <- poolDiscardedDesc
	ch <- poolRetiredDesc
	ch <- stackBytesDesc
	ch <- stackResetsDesc
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.rt.current.Load()
	if s == nil {
		return
	}
	for _, p := range s.procs {
		st := p.pool.Stats()
		n, v, d := p.name(), p.version(), p.digest12()
		ch <- prometheus.MustNewConstMetric(poolInstancesDesc, prometheus.GaugeValue, float64(st.Busy), n, v, d, "busy")
		ch <- prometheus.MustNewConstMetric(poolInstancesDesc, prometheus.GaugeValue, float64(st.Idle), n, v, d, "idle")
		ch <- prometheus.MustNewConstMetric(poolWaitingDesc, prometheus.GaugeValue, float64(st.Waiting), n, v, d)
		ch <- prometheus.MustNewConstMetric(poolCreatedDesc, prometheus.CounterValue, float64(st.Created), n, v, d)
		ch <- prometheus.MustNewConstMetric(poolDiscardedDesc, prometheus.CounterValue, float64(st.Discarded), n, v, d)
		ch <- prometheus.MustNewConstMetric(poolRetiredDesc, prometheus.CounterValue, float64(st.Retired), n, v, d)
		ch <- prometheus.MustNewConstMetric(stackBytesDesc, prometheus.GaugeValue, float64(p.stackBytes()), n, v, d)
		ch <- prometheus.MustNewConstMetric(stackResetsDesc, prometheus.CounterValue, float64(p.stackResets.Load()), n, v, d)
	}
}
