package control

import (
	"context"
	"fmt"
	"slices"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/experiment"
	"github.com/empirefederation/neuron/runtime"
)

// ExperimentTarget is what a traffic-splitting experiment acts on: the
// processor runtime (see runtime.Runtime.SetExperiment).
type ExperimentTarget interface {
	SetExperiment(context.Context, *experiment.Split, []runtime.ExperimentVariant) error
	StopExperiment(id string) error
	Experiments() []runtime.ExperimentInfo
	PinVersion(ctx context.Context, name, version string) error
}

// isSplit reports whether e is the traffic-splitting form: it names a
// plugin or variants (the reference form names one variant).
func isSplit(e *federation.Experiment) bool {
	return e != nil && (e.Plugin != "" || len(e.Variants) > 0)
}

// splitPlan is a validated traffic-splitting experiment, ready for the
// runtime.
type splitPlan struct {
	split    *experiment.Split
	variants []runtime.ExperimentVariant
}

// split validates the traffic-splitting form of e: the engine's rules
// (experiment.Compile, with the neuron's alert thresholds as default
// guardrails) and each variant's config against the keys the neuron
// declares for the plugin.
func (v validator) split(e *federation.Experiment) (*splitPlan, []error) {
	var errs []error
	if e.Variant != "" || len(e.Config) > 0 {
		errs = append(errs, fmt.Errorf("experiment %s: variant and config belong to the reference form; a traffic split gives each of its variants a config", e.ID))
	}
	if e.Promote != "" {
		errs = append(errs, fmt.Errorf("experiment %s: promote goes with \"stop\": true", e.ID))
	}
	plan := &splitPlan{}
	ex := *e
	ex.Variants = slices.Clone(e.Variants)
	for i, vr := range ex.Variants {
		out := layer{Plugins: map[string]map[string]any{}}
		raw := make(map[string]any, len(vr.Config))
		for k, val := range vr.Config {
			raw[k] = val
		}
		if perrs := v.plugin(fmt.Sprintf("experiment.variants[%d].config", i), cmpOr(e.Plugin, "?"), raw, out); len(perrs) > 0 {
			errs = append(errs, perrs...)
		}
		ex.Variants[i].Config = out.Plugins[e.Plugin]
		plan.variants = append(plan.variants, runtime.ExperimentVariant{Name: vr.Name, Version: vr.Version, Config: ex.Variants[i].Config})
	}
	split, err := experiment.Compile(ex, experiment.WithDefaultGuardrails(v.guardrails))
	if err != nil {
		errs = append(errs, err)
	}
	plan.split = split
	return plan, errs
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// promotion is a stopped experiment's variant taking over: its version is
// pinned and its config laid into the federation layer under
// plugins.NAME.
type promotion struct {
	plugin, version string
}

// stopSplit validates {"id", "stop": true, "promote"?} against the
// experiment running, and lays a promoted variant's config into next.
func (c *Controller) stopSplit(e *federation.Experiment, cur, next *State) (*promotion, error) {
	if e.Promote == "" {
		return nil, nil
	}
	run := cur.Experiment
	if !isSplit(run) || run.ID != e.ID {
		return nil, fmt.Errorf("experiment %s: promote %q: no traffic-splitting experiment of that id runs (running: %q)", e.ID, e.Promote, experimentID(run))
	}
	i := slices.IndexFunc(run.Variants, func(v federation.Variant) bool { return v.Name == e.Promote })
	if i < 0 {
		names := make([]string, len(run.Variants))
		for j, v := range run.Variants {
			names[j] = v.Name
		}
		return nil, fmt.Errorf("experiment %s: promote %q: no such variant (variants: %v)", e.ID, e.Promote, names)
	}
	version := run.Variants[i].Version
	if version == "" {
		for _, x := range c.opts.Runtime.Experiments() { // the version it resolved at start
			if x.ID == run.ID && i < len(x.Variants) {
				version = x.Variants[i].Version
			}
		}
	}
	if cfg := run.Variants[i].Config; len(cfg) > 0 {
		plugins := map[string]map[string]any{}
		for name, m := range next.Config.Plugins {
			plugins[name] = m
		}
		plugins[run.Plugin] = merge(plugins[run.Plugin], cfg)
		next.Config.Plugins = plugins
	}
	return &promotion{plugin: run.Plugin, version: version}, nil
}

// installSplit brings the runtime's experiment in line with s, whose
// predecessor was prev: it starts s's split, or stops prev's, and pins a
// promoted version. It runs before the config is installed, so that a
// refused split leaves everything as it was.
func (c *Controller) installSplit(ctx context.Context, prev, s *State, p *promotion) error {
	t := c.opts.Runtime
	if isSplit(s.Experiment) {
		if prev != nil && prev.Experiment == s.Experiment {
			return nil // unchanged
		}
		plan, errs := c.check.split(s.Experiment)
		if len(errs) > 0 {
			return fmt.Errorf("experiment %s: %v", s.Experiment.ID, errs)
		}
		if err := t.SetExperiment(ctx, plan.split, plan.variants); err != nil {
			return err
		}
		if prev != nil && isSplit(prev.Experiment) && prev.Experiment.Plugin != s.Experiment.Plugin {
			_ = t.StopExperiment(prev.Experiment.ID)
		}
		return nil
	}
	if prev != nil && isSplit(prev.Experiment) {
		if err := t.StopExperiment(prev.Experiment.ID); err != nil {
			c.log.Warn("experiment already ended in the runtime", "experiment", prev.Experiment.ID, "err", err)
		}
	}
	if p != nil && p.version != "" {
		if err := t.PinVersion(ctx, p.plugin, p.version); err != nil {
			return fmt.Errorf("promote: %w", err)
		}
	}
	return nil
}
