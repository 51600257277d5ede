package route

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/empirefederation/neuron/internal/processor"
)

// Metrics are the request path's Prometheus series and the traffic no
// processor claimed. Per-request series are resolved once per endpoint
// (see endpointMetrics) so that the request path does no label hashing
// beyond the status code.
type Metrics struct {
	Requests *prometheus.CounterVec
	Errors   *prometheus.CounterVec
	Latency  *prometheus.HistogramVec
	// Limited counts the requests a rate limit refused (429), by
	// processor and by the bucket that refused them (ratelimit.Scope).
	Limited *prometheus.CounterVec
	// unclaimed is the traffic no processor claimed (404, 405).
	unclaimed processor.Counters
}

// endpointLabels name a processor version by name, version and the first
// 12 hex digits of its module's sha256 (two builds of one version are two
// series), then the endpoint.
var endpointLabels = []string{"plugin", "version", "digest", "method", "route"}

// NewMetrics returns the request path's series, to register.
func NewMetrics() *Metrics {
	return &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neuron_requests_total", Help: "Requests served by processor endpoints, by HTTP status.",
		}, append(endpointLabels, "status")),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neuron_request_errors_total", Help: "Failed processor calls, by error code (timeout, memory_limit, guest_trap, ...).",
		}, append(endpointLabels, "code")),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "neuron_request_duration_seconds", Help: "Time from receiving a request to writing its response.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, endpointLabels),
		Limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neuron_rate_limited_total",
			Help: "Processor calls refused 429 rate_limited, by processor and by the limit that refused them: scope caller (rateLimit, per client) or plugin (rateLimits.NAME, across clients).",
		}, []string{"plugin", "scope"}),
	}
}

// Unclaimed returns the traffic no processor claimed (404 and 405 from
// the router) as a Traffic row with Plugin "".
func (m *Metrics) Unclaimed() processor.Traffic { return m.unclaimed.Read("", "") }

// endpointMetrics are one endpoint's series, and the traffic counters of
// its processor version, resolved when the snapshot is built.
type endpointMetrics struct {
	requests *prometheus.CounterVec // curried down to the status label
	errors   *prometheus.CounterVec // curried down to the code label
	latency  prometheus.Observer
	limited  *prometheus.CounterVec // curried down to the scope label
	byStatus sync.Map               // int → prometheus.Counter
	traffic  *processor.Counters
}

// endpoint resolves the series of one endpoint, labelled with
// endpointLabels' values in order, counting its traffic into t.
func (m *Metrics) endpoint(t *processor.Counters, labels ...string) *endpointMetrics {
	l := prometheus.Labels{}
	for i, name := range endpointLabels {
		l[name] = labels[i]
	}
	return &endpointMetrics{
		requests: m.Requests.MustCurryWith(l),
		errors:   m.Errors.MustCurryWith(l),
		latency:  m.Latency.With(l),
		limited:  m.Limited.MustCurryWith(prometheus.Labels{"plugin": labels[0]}),
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
	e.traffic.Observe(x.status, d, x.in, x.out)
}
