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
	events   *prometheus.CounterVec
	refused  prometheus.Counter
	// unclaimed is the traffic no processor claimed (404, 405).
	unclaimed trafficCounters
}

var endpointLabels = []string{"plugin", "version", "method", "route"}

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
		}, []string{"plugin", "version", "name"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neuron_events_total", Help: "Events recorded, by type.",
		}, []string{"plugin", "type"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "neuron_plugins_refused_total", Help: "Processor files refused at load.",
		}),
	}
	reg.MustRegister(m.requests, m.errors, m.latency, m.custom, m.events, m.refused, poolCollector{rt})
	return m
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
	poolInstancesDesc = prometheus.NewDesc("neuron_pool_instances", "Instances of a processor version, by state (busy, idle).",
		[]string{"plugin", "version", "state"}, nil)
	poolWaitingDesc = prometheus.NewDesc("neuron_pool_waiting", "Callers waiting for an instance.",
		[]string{"plugin", "version"}, nil)
	poolCreatedDesc = prometheus.NewDesc("neuron_pool_instances_created_total", "Instances created.",
		[]string{"plugin", "version"}, nil)
	poolDiscardedDesc = prometheus.NewDesc("neuron_pool_instances_discarded_total", "Instances thrown away after a trap, timeout or broken limit.",
		[]string{"plugin", "version"}, nil)
	poolRetiredDesc = prometheus.NewDesc("neuron_pool_instances_retired_total", "Instances replaced on request (restart_worker).",
		[]string{"plugin", "version"}, nil)
)

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolInstancesDesc
	ch <- poolWaitingDesc
	ch <- poolCreatedDesc
	ch <- poolDiscardedDesc
	ch <- poolRetiredDesc
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.rt.current.Load()
	if s == nil {
		return
	}
	for _, p := range s.procs {
		st := p.pool.Stats()
		n, v := p.name(), p.version()
		ch <- prometheus.MustNewConstMetric(poolInstancesDesc, prometheus.GaugeValue, float64(st.Busy), n, v, "busy")
		ch <- prometheus.MustNewConstMetric(poolInstancesDesc, prometheus.GaugeValue, float64(st.Idle), n, v, "idle")
		ch <- prometheus.MustNewConstMetric(poolWaitingDesc, prometheus.GaugeValue, float64(st.Waiting), n, v)
		ch <- prometheus.MustNewConstMetric(poolCreatedDesc, prometheus.CounterValue, float64(st.Created), n, v)
		ch <- prometheus.MustNewConstMetric(poolDiscardedDesc, prometheus.CounterValue, float64(st.Discarded), n, v)
		ch <- prometheus.MustNewConstMetric(poolRetiredDesc, prometheus.CounterValue, float64(st.Retired), n, v)
	}
}
