// Package report builds what the neuron tells the federation: its
// registration, its heartbeat (status, health score, metrics of the last
// interval) and its analytics reports, from the runtime's counters, the
// background system sampler and the dependency probes. Building a report
// never blocks on sampling or probing: every source is a cheap read. It
// builds and never sends (the federation Link does), and its sources come
// as the Runtime interface and functions the agent supplies: it imports
// neither sysmetrics nor probe, and of the runtime only its readings' types.
package report

import (
	"encoding/json"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/runtime"
	"github.com/empirefederation/neuron/sdk/abi"
)

// Runtime is what reports need of the processor runtime.
type Runtime interface {
	Traffic() []runtime.Traffic
	Processors() []runtime.ProcessorInfo
	Endpoints() []abi.Endpoint
	Waiting() int
	// Experiments gives a breakdown row per variant of each running
	// traffic-splitting experiment.
	Experiments() []runtime.ExperimentInfo
	// EndedExperiments gives the same of the experiments that ended
	// lately, so that what they served after the last report is counted.
	EndedExperiments() []runtime.ExperimentInfo
}

// System is a reading of host usage, in percent.
type System struct{ CPU, Memory, Disk float64 }

// Dependency is the last probe of one dependency.
type Dependency struct {
	Name     string
	Status   string // healthy, unhealthy, unknown
	Optional bool
}

// Options are the neuron's identity and its sources.
type Options struct {
	Registration federation.Registration // identity, deployment, thresholds; endpoints and capabilities are added from the processors
	Host         federation.HostInfo
	BuildVersion string
	Started      time.Time

	Runtime       Runtime
	System        func() System
	Dependencies  func() []Dependency
	Connections   func() int    // open client connections
	ConfigVersion func() string // the applied config's version
	Draining      func() bool   // the drain command is in force; nil: never
	Events        *Events
	// Sources are the processors pulled from OCI registries that run, as
	// REF@sha256:HEX (the artifact's digest); nil: none.
	Sources func() []string
}

// MetadataProcessors is the registration metadata key listing the
// processor versions loaded, as NAME@VERSION+sha256:DIGEST, comma-separated.
const MetadataProcessors = "processors"

// MetadataSources is the registration metadata key listing the references
// of processors pulled from OCI registries that run, with the artifact
// digest each runs, as REF@sha256:HEX, sorted and comma-separated; absent
// when there is none.
const MetadataSources = "sources"

// Reporter builds registrations, heartbeats and analytics reports. Its
// methods are safe for concurrent use.
type Reporter struct {
	opts  Options
	phase atomic.Value // string: "", federation.StatusDraining or StatusStopping
	pid   string

	mu        sync.Mutex // guards the windows and alerts, never taken by requests
	heartbeat window
	analytics window
	alerts    map[string]bool // alert name → active
	// variants are the experiment variants' counters at the last
	// analytics report, by experiment id, run (Epoch) and variant name.
	variants map[string]variantTotals
}

// New returns a Reporter whose first intervals start now.
func New(opts Options) *Reporter {
	r := &Reporter{opts: opts, pid: strconv.Itoa(os.Getpid()), alerts: map[string]bool{}}
	r.phase.Store("")
	now := time.Now()
	r.heartbeat.next(now, opts.Runtime.Traffic())
	r.analytics.next(now, opts.Runtime.Traffic())
	return r
}

// SetPhase marks the neuron draining or stopping ("" for neither); the
// heartbeat reports it as the status.
func (r *Reporter) SetPhase(status string) { r.phase.Store(status) }

// Phase returns what SetPhase set.
func (r *Reporter) Phase() string { return r.phase.Load().(string) }

// Registration is the configured registration with the endpoints and
// capabilities of the processors serving now.
func (r *Reporter) Registration() federation.Registration {
	reg := r.opts.Registration
	reg.APIEndpoints = nil
	for _, e := range r.opts.Runtime.Endpoints() {
		reg.APIEndpoints = append(reg.APIEndpoints, federation.Endpoint{Path: e.Path, Method: e.Method, Description: e.Description})
	}
	caps := slices.Clone(reg.Capabilities)
	var loaded []string
	for _, p := range r.opts.Runtime.Processors() {
		if p.Serving {
			caps = append(caps, p.Manifest.Capabilities...)
		}
		loaded = append(loaded, p.Name+"@"+p.Version+"+sha256:"+p.Digest)
	}
	slices.Sort(caps)
	reg.Capabilities = slices.Compact(caps)
	// Identity is name, version and digest: the metadata names every
	// version loaded, serving or standing by.
	reg.Metadata = maps.Clone(reg.Metadata)
	if reg.Metadata == nil {
		reg.Metadata = map[string]string{}
	}
	slices.Sort(loaded)
	reg.Metadata[MetadataProcessors] = strings.Join(loaded, ",")
	if r.opts.Sources != nil {
		if running := r.opts.Sources(); len(running) > 0 {
			slices.Sort(running)
			reg.Metadata[MetadataSources] = strings.Join(running, ",")
		}
	}
	return reg
}

// Status builds the heartbeat for the interval since the previous one, and
// records an alert event for each threshold newly crossed.
func (r *Reporter) Status() federation.Status {
	sys := r.opts.System()
	deps := r.opts.Dependencies()
	r.mu.Lock()
	defer r.mu.Unlock()
	byProc, elapsed := r.heartbeat.next(time.Now(), r.opts.Runtime.Traffic())
	var total usage
	for _, u := range byProc {
		total.add(u)
	}
	th := r.opts.Registration.AlertThresholds
	h := health{cpu: sys.CPU, memory: sys.Memory, errorRate: errorRate(total), latencyMs: total.averageMs()}
	status := map[string]string{}
	for _, d := range deps {
		status[d.Name] = d.Status
		h.addDependency(d)
	}
	score := h.score(th)
	s := federation.Status{
		Status:      federation.StatusActive,
		HealthScore: score,
		Uptime:      int64(time.Since(r.opts.Started).Seconds()),
		ProcessID:   r.pid,
		HostInfo:    r.opts.Host,
		SystemMetrics: federation.SystemMetrics{
			CPUUsage: round2(sys.CPU), MemoryUsage: round2(sys.Memory), DiskUsage: round2(sys.Disk),
		},
		ApplicationMetrics: federation.ApplicationMetrics{
			RequestsPerSecond:   round2(perSecond(total.requests, elapsed)),
			AverageResponseTime: round2(total.averageMs()),
			ActiveConnections:   r.opts.Connections(),
			QueueSize:           r.opts.Runtime.Waiting(),
		},
		DependencyStatus: status,
		PerformanceMetrics: federation.PerformanceMetrics{
			SuccessRate:  round2(successRate(total)),
			ErrorCount:   total.serverErrors,
			WarningCount: total.clientErrors,
		},
		ConfigVersion: r.opts.ConfigVersion(),
		BuildVersion:  r.opts.BuildVersion,
	}
	if r.alert(h.alerts(th, score)) {
		s.Status = federation.StatusDegraded
	}
	if r.opts.Draining != nil && r.opts.Draining() {
		s.Status = federation.StatusDraining
	}
	if phase := r.Phase(); phase != "" {
		s.Status = phase
	}
	return s
}

// alert records alert and alert_resolved events on the edges of each
// condition and reports whether any is active.
func (r *Reporter) alert(now map[string]alert) bool {
	for name, a := range now {
		if !r.alerts[name] {
			r.record("alert", a)
		}
	}
	for name := range r.alerts {
		if _, ok := now[name]; !ok {
			r.record("alert_resolved", map[string]string{"metric": name})
		}
	}
	r.alerts = map[string]bool{}
	for name := range now {
		r.alerts[name] = true
	}
	return len(now) > 0
}

func (r *Reporter) record(typ string, data any) {
	b, _ := json.Marshal(data)
	r.opts.Events.Record(federation.Event{Type: typ, Data: b})
}

// Analytics builds the report of the interval since the previous call:
// the totals, the processors' custom metrics, a breakdown per processor
// version, and the events recorded.
func (r *Reporter) Analytics() federation.AnalyticsReport {
	r.mu.Lock()
	byProc, _ := r.analytics.next(time.Now(), r.opts.Runtime.Traffic())
	variantRows := r.variantRows()
	r.mu.Unlock()
	var total usage
	var rows []federation.BreakdownRow
	for _, key := range slices.Sorted(maps.Keys(byProc)) {
		u := byProc[key]
		total.add(u)
		if u.plugin == "" || u.requests == 0 && len(u.custom) == 0 {
			continue
		}
		m := metrics(u)
		rows = append(rows, federation.BreakdownRow{Plugin: u.plugin, Version: u.version,
			TotalRequests: m.TotalRequests, SuccessfulRequests: m.SuccessfulRequests, FailedRequests: m.FailedRequests,
			AverageResponseTime: m.AverageResponseTime, DataProcessed: m.DataProcessed, CustomMetrics: u.custom})
	}
	rows = append(rows, variantRows...)
	m := metrics(total)
	m.CustomMetrics = total.custom
	// To the nanosecond: two reports of the same numbers in one second
	// must not read as one report sent twice, which a federation stores
	// once (the development federation does).
	stamp := time.Now().UTC().Format(time.RFC3339Nano)
	return federation.AnalyticsReport{
		NeuronID:  r.opts.Registration.NeuronID,
		Metrics:   m,
		Events:    r.opts.Events.Take(),
		Timestamp: stamp,
		Breakdown: rows,
	}
}

func metrics(u usage) federation.Metrics {
	return federation.Metrics{
		TotalRequests: u.requests, SuccessfulRequests: u.succeeded, FailedRequests: u.requests - u.succeeded,
		AverageResponseTime: round2(u.averageMs()), DataProcessed: u.bytesIn,
	}
}

// errorRate is the percentage of requests answered 5xx.
func errorRate(u usage) float64 {
	if u.requests == 0 {
		return 0
	}
	return 100 * float64(u.serverErrors) / float64(u.requests)
}

// successRate is the percentage of requests answered below 400; 100 without traffic.
func successRate(u usage) float64 {
	if u.requests == 0 {
		return 100
	}
	return 100 * float64(u.succeeded) / float64(u.requests)
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }
