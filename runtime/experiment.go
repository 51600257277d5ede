package runtime

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/empirefederation/neuron/internal/experiment"
	"github.com/empirefederation/neuron/sdk/abi"
)

// HeaderVariant names the experiment variant that served a response, when
// an experiment chose it. HeaderPlugin still names the processor version.
const HeaderVariant = "X-Neuron-Variant"

// Event types of experiments; see docs/federation.md, "Experiments".
const (
	// EventExperimentVariantStopped: a guardrail stopped a variant; its
	// traffic goes to the control. Data: experiment, variant, metric,
	// value, threshold, windowSeconds, samples.
	EventExperimentVariantStopped = "experiment_variant_stopped"
	// EventExperimentVariantUnavailable: the processor version a variant
	// names left the runtime (swap, unload); its traffic goes to the
	// control until the version is back. Data: experiment, variant,
	// version.
	EventExperimentVariantUnavailable = "experiment_variant_unavailable"
)

// checkEvery is how often the guardrails of running experiments are
// checked, as experiment.Split.Check asks.
const checkEvery = time.Second

// ExperimentVariant is one variant of an experiment as the runtime serves
// it: the split's variant of the same Name calls processor Version (""
// for the version serving when SetExperiment is called) with Config laid
// over the processor's configuration.
type ExperimentVariant struct {
	Name    string
	Version string
	Config  map[string]any
}

// ExperimentInfo is a running experiment, for the API and analytics, or
// one that ended (EndedExperiments).
type ExperimentInfo struct {
	ID     string `json:"id"`
	Plugin string `json:"plugin"`
	// Epoch tells apart two runs of experiments of the same ID (one
	// replaced by another, stopped and started again): each SetExperiment
	// starts a new one, and its statistics start from zero.
	Epoch uint64 `json:"epoch"`
	// Variants are in the experiment's order, with their statistics since
	// the experiment started.
	Variants []ExperimentVariantInfo `json:"variants"`
}

// ExperimentVariantInfo is one variant of a running experiment.
type ExperimentVariantInfo struct {
	experiment.VariantStats
	// Version is the processor version the variant calls.
	Version string `json:"version"`
	// ClientErrors counts the calls answered 4xx (Requests and Errors,
	// the 5xx, come from the engine).
	ClientErrors uint64 `json:"clientErrors"`
	// Unavailable is true while the variant's version is not loaded: its
	// calls go to the control.
	Unavailable bool `json:"unavailable,omitempty"`
}

// running is an experiment installed by SetExperiment. It is shared by
// every snapshot built while it runs; what a snapshot resolves from it
// (which processor serves each variant) is in its endpoints' splitRoutes.
type running struct {
	epoch        uint64 // numbered by SetExperiment
	split        *experiment.Split
	variants     []ExperimentVariant // Version resolved: never ""
	header       [][]string          // X-Neuron-Variant value of each variant, shared
	clientErrors []atomic.Uint64
	configs      []atomic.Pointer[variantConfig]
	missing      []atomic.Bool // the variant's version was found missing (the loop's view)
}

// variantConfig is a variant's configuration as JSON, encoded for one
// dynamic configuration: a new Dynamic re-encodes it on the next call.
type variantConfig struct {
	dyn *dynamic
	b   []byte
}

// config returns the configuration variant v's calls to processor name
// see, or nil when the variant has no config of its own.
func (x *running) config(v int, dyn *dynamic, name string) []byte {
	over := x.variants[v].Config
	if len(over) == 0 {
		return nil
	}
	if c := x.configs[v].Load(); c != nil && c.dyn == dyn {
		return c.b
	}
	merged := make(map[string]any, len(dyn.spec.Settings)+len(over))
	maps.Copy(merged, dyn.spec.Settings)
	maps.Copy(merged, dyn.spec.Plugins[name])
	maps.Copy(merged, over)
	b, err := json.Marshal(merged)
	if err != nil { // checked by SetExperiment; a Dynamic cannot break it either
		return nil
	}
	x.configs[v].Store(&variantConfig{dyn: dyn, b: b})
	return b
}

// splitRoute is how one endpoint of an experiment's processor splits its
// calls in one snapshot: the endpoint serving each variant, and which
// variant's statistics the call counts in (the control's when the
// variant's version is missing or lacks the route).
type splitRoute struct {
	x      *running
	eps    []*endpoint
	served []int
}

// SetExperiment starts experiment split on processor split.Plugin(),
// replacing any experiment running on it: from the returned moment on,
// each call of the processor's endpoints is assigned a variant (by the
// split's sticky key, else at random by weight), served by that variant's
// processor version with its config laid over the processor's, and
// observed in the split's statistics. variants give each of split's
// variants, by name, its version and config. The change is one snapshot
// swap: no call is dropped or sees half of it.
//
// Guardrails are checked every second; a variant they stop sends its
// traffic to the control, with an experiment_variant_stopped event. A
// variant whose version later leaves the runtime (swap, unload) sends its
// traffic to the control, with an experiment_variant_unavailable event,
// until the version is loaded again: the experiment keeps the versions it
// named. See docs/design.md, "What happens to an experiment when its
// versions change?".
//
// # Errors
//
// SetExperiment fails, and nothing changes, when the plugin does not
// serve, a split variant has no entry in variants (or the reverse), a
// named version is not loaded (the error lists those that are), or a
// config does not encode as JSON.
func (rt *Runtime) SetExperiment(_ context.Context, split *experiment.Split, variants []ExperimentVariant) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed.Load() {
		return errClosed
	}
	s := rt.current.Load()
	name := split.Plugin()
	cur := s.serving[name]
	if cur == nil {
		return fmt.Errorf("experiment %s: %w", split.ID(), rt.notServing("split", name))
	}
	x, err := newRunning(split, variants, s, cur)
	if err != nil {
		return fmt.Errorf("experiment %s: %w", split.ID(), err)
	}
	rt.experimentEpochs++
	x.epoch = rt.experimentEpochs
	next := maps.Clone(rt.experiments)
	if next == nil {
		next = map[string]*running{}
	}
	next[name] = x
	rt.installExperiments(next)
	rt.log.Info("experiment started", "experiment", split.ID(), "plugin", name, "variants", describeVariants(x))
	if !rt.checking {
		rt.checking = true
		go rt.checkExperiments(rt.bg)
	}
	return nil
}

// newRunning checks variants against split and the snapshot s, resolving
// the empty version to cur's.
func newRunning(split *experiment.Split, variants []ExperimentVariant, s *snapshot, cur *processor) (*running, error) {
	sv := split.Variants()
	x := &running{split: split, variants: make([]ExperimentVariant, len(sv)), header: make([][]string, len(sv)),
		clientErrors: make([]atomic.Uint64, len(sv)), configs: make([]atomic.Pointer[variantConfig], len(sv)),
		missing: make([]atomic.Bool, len(sv))}
	if len(variants) != len(sv) {
		return nil, fmt.Errorf("%d variants given for %d in the split", len(variants), len(sv))
	}
	var loaded []string
	for _, p := range s.procs {
		if p.name() == cur.name() {
			loaded = append(loaded, p.version())
		}
	}
	for i, v := range sv {
		j := slices.IndexFunc(variants, func(e ExperimentVariant) bool { return e.Name == v.Name })
		if j < 0 {
			return nil, fmt.Errorf("variant %q of the split has no version and config given", v.Name)
		}
		ev := variants[j]
		ev.Version = cmp.Or(ev.Version, cur.version())
		if !slices.Contains(loaded, ev.Version) {
			return nil, fmt.Errorf("variant %q: %s@%s is not loaded (loaded: %s); drop its file into the plugins directory first",
				v.Name, cur.name(), ev.Version, strings.Join(loaded, ", "))
		}
		if _, err := json.Marshal(ev.Config); err != nil {
			return nil, fmt.Errorf("variant %q: config is not encodable as JSON: %w", v.Name, err)
		}
		ev.Config = cloneMap(ev.Config)
		x.variants[i] = ev
		x.header[i] = []string{v.Name}
	}
	return x, nil
}

func describeVariants(x *running) string {
	var parts []string
	for i, v := range x.variants {
		parts = append(parts, fmt.Sprintf("%s=%s@%d%%", v.Name, v.Version, x.split.Variants()[i].Weight))
	}
	return strings.Join(parts, " ")
}

// StopExperiment ends experiment id: the processor's calls go to its
// serving version with its own config again, in one snapshot swap.
//
// # Errors
//
// StopExperiment fails when no experiment id runs; the error lists those
// that do.
func (rt *Runtime) StopExperiment(id string) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed.Load() {
		return errClosed
	}
	var ids []string
	for name, x := range rt.experiments {
		if x.split.ID() != id {
			ids = append(ids, x.split.ID())
			continue
		}
		next := maps.Clone(rt.experiments)
		delete(next, name)
		rt.installExperiments(next)
		rt.log.Info("experiment stopped", "experiment", id, "plugin", name)
		return nil
	}
	slices.Sort(ids)
	return fmt.Errorf("stop experiment %s: no such experiment runs (running: %s)", id, cmp.Or(strings.Join(ids, ", "), "none"))
}

// MaxEndedExperiments is how many ended experiments (stopped, or replaced
// by another on their processor) the runtime keeps the statistics of, the
// most recent, so that the analytics count the calls they served after
// their last report: see EndedExperiments.
const MaxEndedExperiments = 20

// installExperiments publishes a snapshot like the current one with
// experiments xs, keeping those that end in rt.ended. Called under rt.mu.
func (rt *Runtime) installExperiments(xs map[string]*running) {
	rt.endExperiments(xs)
	rt.experiments = xs
	s := rt.current.Load()
	next := &snapshot{procs: s.procs, serving: s.serving, pinned: s.pinned, experiments: xs}
	next.router = next.newRouter(rt)
	rt.current.Store(next)
}

// endedExperiment is an experiment that ended, with its processor's name.
type endedExperiment struct {
	plugin string
	x      *running
}

// endExperiments records the experiments running that xs, the next set,
// does not hold as ended. Called under rt.mu.
func (rt *Runtime) endExperiments(xs map[string]*running) {
	rt.endedMu.Lock()
	defer rt.endedMu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(rt.experiments)) {
		if x := rt.experiments[name]; xs[name] != x {
			rt.ended = append(rt.ended, endedExperiment{plugin: name, x: x})
		}
	}
	if over := len(rt.ended) - MaxEndedExperiments; over > 0 {
		rt.ended = slices.Delete(rt.ended, 0, over)
	}
}

// Experiments returns the experiments running now, by plugin name order,
// with each variant's statistics since its experiment started.
func (rt *Runtime) Experiments() []ExperimentInfo {
	s := rt.current.Load()
	var out []ExperimentInfo
	for _, name := range slices.Sorted(maps.Keys(s.experiments)) {
		out = append(out, s.experiments[name].info(name))
	}
	return out
}

// EndedExperiments returns the last MaxEndedExperiments experiments that
// ended (StopExperiment, or SetExperiment replacing one), oldest first,
// with each variant's statistics up to its last call: a reader diffing
// Experiments between two readings adds these, so that the calls an
// experiment served between its last reading and its end are counted.
func (rt *Runtime) EndedExperiments() []ExperimentInfo {
	rt.endedMu.Lock()
	ended := slices.Clone(rt.ended)
	rt.endedMu.Unlock()
	out := make([]ExperimentInfo, 0, len(ended))
	for _, e := range ended {
		out = append(out, e.x.info(e.plugin))
	}
	return out
}

// info describes x, an experiment on processor name.
func (x *running) info(name string) ExperimentInfo {
	info := ExperimentInfo{ID: x.split.ID(), Plugin: name, Epoch: x.epoch}
	for i, st := range x.split.Stats() {
		info.Variants = append(info.Variants, ExperimentVariantInfo{VariantStats: st, Version: x.variants[i].Version,
			ClientErrors: x.clientErrors[i].Load(), Unavailable: x.missing[i].Load()})
	}
	return info
}

// splitRoute resolves, for endpoint e of the processor serving in s, the
// endpoint of each variant of x. A variant whose version is not in s, or
// whose version does not declare e's route, is served by the control's
// endpoint, and failing that by e's own processor.
func (s *snapshot) splitRoute(x *running, e *endpoint, m *metrics) *splitRoute {
	sr := &splitRoute{x: x, eps: make([]*endpoint, len(x.variants)), served: make([]int, len(x.variants))}
	find := func(version string) *endpoint {
		var p *processor
		if cur := s.serving[e.p.name()]; cur.version() == version {
			p = cur
		} else if i := slices.IndexFunc(s.procs, func(q *processor) bool { return q.name() == e.p.name() && q.version() == version }); i >= 0 {
			p = s.procs[i]
		}
		if p == nil {
			return nil
		}
		i := slices.IndexFunc(p.mod.Manifest.Endpoints, func(r abi.Endpoint) bool { return r.Method == e.route.Method && r.Path == e.route.Path })
		if i < 0 {
			return nil
		}
		r := p.mod.Manifest.Endpoints[i]
		return &endpoint{p: p, rt: e.rt, route: r, vars: e.vars, fn: slices.Index(p.exports, r.Export), plugin: []string{p.id()},
			metrics: m.endpoint(&p.state.traffic, p.name(), p.version(), p.digest12(), r.Method, r.Path)}
	}
	c := x.split.Control()
	control := find(x.variants[c].Version)
	if control == nil {
		control = &endpoint{p: e.p, rt: e.rt, route: e.route, vars: e.vars, fn: e.fn, plugin: e.plugin, metrics: e.metrics}
	}
	for i, v := range x.variants {
		sr.eps[i], sr.served[i] = find(v.Version), i
		if sr.eps[i] == nil {
			sr.eps[i], sr.served[i] = control, c
		}
	}
	return sr
}

// handleSplit serves a call of an endpoint under experiment: it picks the
// variant, serves the call with the variant's endpoint and config, and
// observes it. A "json:" sticky key needs the body first: it is read here
// (within the body limit) and handed on as the request's body.
func (e *endpoint) handleSplit(w http.ResponseWriter, r *http.Request, vars map[string]string) {
	sr := e.split
	split := sr.x.split
	var body []byte
	if split.KeyNeedsBody() && r.Body != nil && r.Body != http.NoBody {
		limit := e.p.limits.MaxBodyBytes
		b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil || int64(len(b)) > limit {
			cerr := bodyTooLarge(limit)
			if err != nil {
				cerr = &CallError{Status: http.StatusBadRequest, Code: CodeBadRequest, Msg: "could not read the request body", Err: err}
			}
			e.metrics.observe(exchange{status: cerr.Status, in: len(b), out: e.fail(w, r, cerr)}, 0)
			return
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	v := split.AssignRandom()
	if key, ok := split.Key(r, body); ok {
		v = split.Assign(key)
	}
	ve, served := sr.eps[v], sr.served[v]
	w.Header()[HeaderVariant] = sr.x.header[served]
	start := time.Now()
	status := ve.run(w, r, vars, sr.x.config(served, ve.rt.dyn.Load(), ve.p.name()))
	if status <= 0 { // rerouted to a newer snapshot, which observed it
		return
	}
	split.Observe(served, status, time.Since(start))
	if status >= 400 && status < 500 {
		sr.x.clientErrors[served].Add(1)
	}
}

// checkExperiments checks the guardrails of the running experiments every
// second, and whether their versions are still loaded, until ctx ends
// (at Close).
func (rt *Runtime) checkExperiments(ctx context.Context) {
	t := time.NewTicker(checkEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			rt.checkOnce(now)
		}
	}
}

// checkOnce runs one round of checkExperiments.
func (rt *Runtime) checkOnce(now time.Time) {
	s := rt.current.Load()
	for _, name := range slices.Sorted(maps.Keys(s.experiments)) {
		x := s.experiments[name]
		id := x.split.ID()
		for _, st := range x.split.Check(now) {
			rt.log.Warn("experiment variant stopped by a guardrail; its traffic goes to the control",
				"experiment", id, "variant", st.Name, "reason", st.String())
			rt.emit(Event{Type: EventExperimentVariantStopped, Plugin: name, Version: x.variants[st.Variant].Version, Data: mustJSON(map[string]any{
				"experiment": id, "variant": st.Name, "metric": st.Metric, "value": st.Value, "threshold": st.Threshold,
				"windowSeconds": st.Window.Seconds(), "samples": st.Samples})})
		}
		for i, v := range x.variants {
			gone := !slices.ContainsFunc(s.procs, func(p *processor) bool { return p.name() == name && p.version() == v.Version })
			if x.missing[i].Swap(gone) == gone || !gone {
				continue
			}
			rt.log.Warn("experiment variant's version is not loaded; its traffic goes to the control",
				"experiment", id, "variant", v.Name, "version", name+"@"+v.Version)
			rt.emit(Event{Type: EventExperimentVariantUnavailable, Plugin: name, Version: v.Version, Data: mustJSON(map[string]any{
				"experiment": id, "variant": v.Name, "version": v.Version})})
		}
	}
}

// experimentCollector reports the running experiments' per-variant
// counters from their statistics at scrape time, so that the request path
// adds nothing to what the engine's Observe does. The duration is a
// summary (quantiles 0.5, 0.95, 0.99 since the experiment started), not a
// histogram: the engine keeps finer buckets than Prometheus' and reports
// quantiles from them. See docs/design.md, "Why are experiment metrics
// read from the engine?".
type experimentCollector struct{ rt *Runtime }

var (
	experimentRequestsDesc = prometheus.NewDesc("neuron_experiment_requests_total",
		"Calls served by experiment variants, by outcome (success, client_error, server_error).",
		[]string{"experiment", "variant", "outcome"}, nil)
	experimentDurationDesc = prometheus.NewDesc("neuron_experiment_request_duration_seconds",
		"Latency of the calls served by experiment variants since the experiment started.",
		[]string{"experiment", "variant"}, nil)
)

func (c experimentCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- experimentRequestsDesc
	ch <- experimentDurationDesc
}

func (c experimentCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.rt.current.Load()
	if s == nil {
		return
	}
	for _, x := range s.experiments {
		id := x.split.ID()
		for i, st := range x.split.Stats() {
			client := min(x.clientErrors[i].Load(), st.Requests-st.Errors)
			ok := st.Requests - st.Errors - client
			ch <- prometheus.MustNewConstMetric(experimentRequestsDesc, prometheus.CounterValue, float64(ok), id, st.Name, "success")
			ch <- prometheus.MustNewConstMetric(experimentRequestsDesc, prometheus.CounterValue, float64(client), id, st.Name, "client_error")
			ch <- prometheus.MustNewConstMetric(experimentRequestsDesc, prometheus.CounterValue, float64(st.Errors), id, st.Name, "server_error")
			ch <- prometheus.MustNewConstSummary(experimentDurationDesc, st.Requests, st.Mean.Seconds()*float64(st.Requests),
				map[float64]float64{0.5: st.P50.Seconds(), 0.95: st.P95.Seconds(), 0.99: st.P99.Seconds()}, id, st.Name)
		}
	}
}
