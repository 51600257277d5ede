package runtime

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/empirefederation/neuron/internal/experiment"
	"github.com/empirefederation/neuron/internal/processor"
	"github.com/empirefederation/neuron/internal/route"
)

// HeaderVariant names the experiment variant that served a response, when
// an experiment chose it. HeaderPlugin still names the processor version.
const HeaderVariant = route.HeaderVariant

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
	s := rt.srv.Current.Load()
	name := split.Plugin()
	cur := s.Serving[name]
	if cur == nil {
		return fmt.Errorf("experiment %s: %w", split.ID(), rt.notServing("split", name))
	}
	vs, err := resolveVariants(split, variants, s, cur)
	if err != nil {
		return fmt.Errorf("experiment %s: %w", split.ID(), err)
	}
	rt.experimentEpochs++
	x := route.NewExperiment(rt.experimentEpochs, split, vs)
	next := maps.Clone(rt.experiments)
	if next == nil {
		next = map[string]*route.Experiment{}
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

// resolveVariants checks variants against split and the snapshot s,
// resolving the empty version to cur's, and returns them in the split's
// order.
func resolveVariants(split *experiment.Split, variants []ExperimentVariant, s *route.Snapshot, cur *processor.Version) ([]route.Variant, error) {
	sv := split.Variants()
	out := make([]route.Variant, len(sv))
	if len(variants) != len(sv) {
		return nil, fmt.Errorf("%d variants given for %d in the split", len(variants), len(sv))
	}
	var loaded []string
	for _, p := range s.Procs {
		if p.Name() == cur.Name() {
			loaded = append(loaded, p.Version())
		}
	}
	for i, v := range sv {
		j := slices.IndexFunc(variants, func(e ExperimentVariant) bool { return e.Name == v.Name })
		if j < 0 {
			return nil, fmt.Errorf("variant %q of the split has no version and config given", v.Name)
		}
		ev := variants[j]
		ev.Version = cmp.Or(ev.Version, cur.Version())
		if !slices.Contains(loaded, ev.Version) {
			return nil, fmt.Errorf("variant %q: %s@%s is not loaded (loaded: %s); drop its file into the plugins directory first",
				v.Name, cur.Name(), ev.Version, strings.Join(loaded, ", "))
		}
		if _, err := json.Marshal(ev.Config); err != nil {
			return nil, fmt.Errorf("variant %q: config is not encodable as JSON: %w", v.Name, err)
		}
		ev.Config = processor.CloneMap(ev.Config)
		out[i] = route.Variant(ev)
	}
	return out, nil
}

func describeVariants(x *route.Experiment) string {
	var parts []string
	for i, v := range x.Variants {
		parts = append(parts, fmt.Sprintf("%s=%s@%d%%", v.Name, v.Version, x.Split.Variants()[i].Weight))
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
		if x.Split.ID() != id {
			ids = append(ids, x.Split.ID())
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
func (rt *Runtime) installExperiments(xs map[string]*route.Experiment) {
	rt.endExperiments(xs)
	rt.experiments = xs
	s := rt.srv.Current.Load()
	rt.srv.Current.Store(rt.srv.Snapshot(&route.Snapshot{Procs: s.Procs, Serving: s.Serving, Pinned: s.Pinned, Experiments: xs}))
}

// endedExperiment is an experiment that ended, with its processor's name.
type endedExperiment struct {
	plugin string
	x      *route.Experiment
}

// endExperiments records the experiments running that xs, the next set,
// does not hold as ended. Called under rt.mu.
func (rt *Runtime) endExperiments(xs map[string]*route.Experiment) {
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
	s := rt.srv.Current.Load()
	var out []ExperimentInfo
	for _, name := range slices.Sorted(maps.Keys(s.Experiments)) {
		out = append(out, experimentInfo(s.Experiments[name], name))
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
		out = append(out, experimentInfo(e.x, e.plugin))
	}
	return out
}

// experimentInfo describes x, an experiment on processor name.
func experimentInfo(x *route.Experiment, name string) ExperimentInfo {
	info := ExperimentInfo{ID: x.Split.ID(), Plugin: name, Epoch: x.Epoch}
	for i, st := range x.Split.Stats() {
		info.Variants = append(info.Variants, ExperimentVariantInfo{VariantStats: st, Version: x.Variants[i].Version,
			ClientErrors: x.ClientErrors[i].Load(), Unavailable: x.Missing[i].Load()})
	}
	return info
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
	s := rt.srv.Current.Load()
	for _, name := range slices.Sorted(maps.Keys(s.Experiments)) {
		x := s.Experiments[name]
		id := x.Split.ID()
		for _, st := range x.Split.Check(now) {
			rt.log.Warn("experiment variant stopped by a guardrail; its traffic goes to the control",
				"experiment", id, "variant", st.Name, "reason", st.String())
			rt.emit(Event{Type: EventExperimentVariantStopped, Plugin: name, Version: x.Variants[st.Variant].Version, Data: mustJSON(map[string]any{
				"experiment": id, "variant": st.Name, "metric": st.Metric, "value": st.Value, "threshold": st.Threshold,
				"windowSeconds": st.Window.Seconds(), "samples": st.Samples})})
		}
		for i, v := range x.Variants {
			gone := !slices.ContainsFunc(s.Procs, func(p *processor.Version) bool { return p.Name() == name && p.Version() == v.Version })
			if x.Missing[i].Swap(gone) == gone || !gone {
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
	s := c.rt.srv.Current.Load()
	if s == nil {
		return
	}
	for _, x := range s.Experiments {
		id := x.Split.ID()
		for i, st := range x.Split.Stats() {
			client := min(x.ClientErrors[i].Load(), st.Requests-st.Errors)
			ok := st.Requests - st.Errors - client
			ch <- prometheus.MustNewConstMetric(experimentRequestsDesc, prometheus.CounterValue, float64(ok), id, st.Name, "success")
			ch <- prometheus.MustNewConstMetric(experimentRequestsDesc, prometheus.CounterValue, float64(client), id, st.Name, "client_error")
			ch <- prometheus.MustNewConstMetric(experimentRequestsDesc, prometheus.CounterValue, float64(st.Errors), id, st.Name, "server_error")
			ch <- prometheus.MustNewConstSummary(experimentDurationDesc, st.Requests, st.Mean.Seconds()*float64(st.Requests),
				map[float64]float64{0.5: st.P50.Seconds(), 0.95: st.P95.Seconds(), 0.99: st.P99.Seconds()}, id, st.Name)
		}
	}
}
