package runtime

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/empirefederation/neuron/internal/processor"
	"github.com/empirefederation/neuron/internal/route"
)

// metrics are the runtime's own Prometheus metrics; the request path's
// are route.Metrics, the processor versions' processor.Metrics.
type metrics struct {
	events   *prometheus.CounterVec
	rejected prometheus.Counter
}

// newMetrics registers with reg the runtime's metrics, those of the
// request path and of the processor versions (setting rt.svc.Metrics), and
// the collectors that read the snapshot at scrape time.
func newMetrics(reg prometheus.Registerer, rt *Runtime, req *route.Metrics) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neuron_events_total", Help: "Events recorded, by type.",
		}, []string{"plugin", "type"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "neuron_plugins_rejected_total", Help: "Processor files rejected at load or swap (the version they would replace kept serving).",
		}),
	}
	kept := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "neuron_plugin_codes_kept", Help: "Compiled modules of retired processor versions kept for a later version of the same file.",
	}, func() float64 { return float64(rt.svc.Kept.Len()) })
	guestMemory := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "neuron_guest_memory_bytes",
		Help: "Linear memory of the runtime's processor instances, in bytes. It lives outside the Go heap, so the go_memstats series do not count it.",
	}, func() float64 { return float64(rt.svc.Mem.Bytes()) })
	bodies := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "neuron_request_body_bytes",
		Help: "Bytes of request bodies held now, reserved from the request body budget (requestBodyBudget); requests beyond it are refused with 503 body_budget, counted in neuron_request_errors_total.",
	}, func() float64 { return float64(rt.srv.BodyBytes()) })
	// A version's request series are deleted with its custom ones, when
	// its last processor closes (see processor.Metrics).
	rt.svc.Metrics = processor.NewMetrics(req.Requests.MetricVec, req.Errors.MetricVec, req.Latency.MetricVec)
	reg.MustRegister(append(rt.svc.Metrics.Collectors(),
		req.Requests, req.Errors, req.Latency, req.Limited, m.events, m.rejected, kept, guestMemory, bodies, poolCollector{rt}, experimentCollector{rt})...)
	return m
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
	s := c.rt.srv.Current.Load()
	if s == nil {
		return
	}
	for _, p := range s.Procs {
		st := p.Pool.Stats()
		n, v, d := p.Name(), p.Version(), p.Digest12()
		ch <- prometheus.MustNewConstMetric(poolInstancesDesc, prometheus.GaugeValue, float64(st.Busy), n, v, d, "busy")
		ch <- prometheus.MustNewConstMetric(poolInstancesDesc, prometheus.GaugeValue, float64(st.Idle), n, v, d, "idle")
		ch <- prometheus.MustNewConstMetric(poolWaitingDesc, prometheus.GaugeValue, float64(st.Waiting), n, v, d)
		ch <- prometheus.MustNewConstMetric(poolCreatedDesc, prometheus.CounterValue, float64(st.Created), n, v, d)
		ch <- prometheus.MustNewConstMetric(poolDiscardedDesc, prometheus.CounterValue, float64(st.Discarded), n, v, d)
		ch <- prometheus.MustNewConstMetric(poolRetiredDesc, prometheus.CounterValue, float64(st.Retired), n, v, d)
		ch <- prometheus.MustNewConstMetric(stackBytesDesc, prometheus.GaugeValue, float64(p.StackBytes()), n, v, d)
		ch <- prometheus.MustNewConstMetric(stackResetsDesc, prometheus.CounterValue, float64(p.StackResets.Load()), n, v, d)
	}
}
