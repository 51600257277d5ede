package devfed

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/devfed/store"
)

// codeClientGone is the code label of a request whose client went away
// before the answer (nginx's 499): not a failure of the federation.
const codeClientGone = 499

// scrapeTimeout bounds the store read behind neuron_federation_neurons.
const scrapeTimeout = 5 * time.Second

// Route labels of requests that match no route of the API.
const (
	routeUnknown   = "unknown"   // under /api/, no such route
	routeDashboard = "dashboard" // the dashboard's files
)

// Results of neuron_federation_events_total.
const (
	eventStored    = "stored"
	eventDuplicate = "duplicate"
)

// promMetrics are the federation's Prometheus metrics, in a registry of its
// own (served at GET /metrics): a neuron running the federation in its
// process keeps its own /metrics apart.
type promMetrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	pushes   *prometheus.CounterVec
	events   *prometheus.CounterVec
	// foreign counts command outcomes refused because they came from
	// another instance than the one the command was sent to.
	foreign prometheus.Counter
}

// neuronsDesc is neuron_federation_neurons, computed at each scrape.
var neuronsDesc = prometheus.NewDesc("neuron_federation_neurons",
	"Registered neurons by shown status (liveness by the federation's clock at scrape time: offline, stale, registered, or the status of the last heartbeat).",
	[]string{"status"}, nil)

// shownStatuses are always reported by neuron_federation_neurons (0 when
// no neuron has them), so that a status emptying shows as 0, not as a
// vanished series.
var shownStatuses = []string{statusRegistered, federation.StatusActive, federation.StatusDegraded,
	federation.StatusDraining, federation.StatusStopping, statusStale, statusOffline}

// newMetrics registers the federation's metrics of s in a new registry,
// the labels known in advance at 0.
func newMetrics(s *Server) *promMetrics {
	m := &promMetrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neuron_federation_requests_total",
			Help: "Requests the federation answered, by route (its path template, unknown, dashboard) and HTTP status code (499: the client went away first).",
		}, []string{"route", "code"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neuron_federation_pushes_total",
			Help: "Pushes of an update to a neuron's update-config, by outcome: applied, unchanged, rejected (422), failed (unreachable, timeout, other status).",
		}, []string{"outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neuron_federation_events_total",
			Help: "Analytics events received, by result: stored, or duplicate (an event id, or a whole report, seen before).",
		}, []string{"result"}),
		foreign: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "neuron_federation_foreign_outcomes_total",
			Help: "Command outcomes refused: reported by another instance of the neuron id than the one the command was sent to (after an offline takeover).",
		}),
	}
	for _, o := range []string{pushApplied, pushUnchanged, pushRejected, pushFailed} {
		m.pushes.WithLabelValues(o)
	}
	for _, r := range []string{eventStored, eventDuplicate} {
		m.events.WithLabelValues(r)
	}
	m.reg.MustRegister(m.requests, m.pushes, m.events, m.foreign, neuronsCollector{s})
	return m
}

// handler serves the registry in the Prometheus text format.
func (m *promMetrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// instrument counts h's answers under route.
func (m *promMetrics) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		code := sw.code
		switch {
		case code == 0 && r.Context().Err() != nil:
			code = codeClientGone
		case code == 0:
			code = http.StatusOK
		}
		m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// neuronsCollector reports neuron_federation_neurons from the store.
type neuronsCollector struct{ s *Server }

// Describe sends the one metric's description.
func (c neuronsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- neuronsDesc }

// Collect counts the neurons by shown status now.
func (c neuronsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	var by map[string]int
	err := c.s.db.View(ctx, func(tx *store.Tx) error {
		ns, err := tx.Neurons()
		by = c.s.countByStatus(ns, c.s.now())
		return err
	})
	if err != nil {
		c.s.log.Error("metrics: neurons not counted", "err", err)
		ch <- prometheus.NewInvalidMetric(neuronsDesc, err)
		return
	}
	for _, st := range shownStatuses {
		if _, found := by[st]; !found {
			by[st] = 0
		}
	}
	for st, n := range by {
		ch <- prometheus.MustNewConstMetric(neuronsDesc, prometheus.GaugeValue, float64(n), st)
	}
}
