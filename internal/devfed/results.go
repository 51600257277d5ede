package devfed

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/devfed/store"
)

// maxStoppedEvents bounds the guardrail stops listed with an experiment.
const maxStoppedEvents = 1000

// variantResult is one variant's numbers over an experiment's run, from
// the analytics breakdown rows of the neurons it targeted: sums of
// requests, the request-weighted average response time, and the latency
// quantiles of each neuron's latest row (they cover the whole run), the
// highest over neurons.
type variantResult struct {
	Variant             string             `json:"variant"`
	Neurons             int                `json:"neurons"`
	TotalRequests       float64            `json:"totalRequests"`
	FailedRequests      float64            `json:"failedRequests"`
	ErrorRate           float64            `json:"errorRate"`
	AverageResponseTime float64            `json:"averageResponseTime"`
	P50                 float64            `json:"p50"`
	P95                 float64            `json:"p95"`
	P99                 float64            `json:"p99"`
	CustomMetrics       map[string]float64 `json:"customMetrics"`
}

// stoppedView is a variant a guardrail stopped on one neuron
// (an experiment_variant_stopped event).
type stoppedView struct {
	Variant   string          `json:"variant"`
	Reason    string          `json:"reason"`
	NeuronID  string          `json:"neuronId"`
	At        string          `json:"at"`
	Metric    string          `json:"metric"`
	Value     json.RawMessage `json:"value"`
	Threshold json.RawMessage `json:"threshold"`
}

// results aggregates experiment x's variants from the breakdown rows
// received while it ran, and lists the variants guardrails stopped.
func results(tx *store.Tx, x store.Experiment, now time.Time) ([]variantResult, []stoppedView, error) {
	var spec federation.Experiment
	if err := json.Unmarshal(x.Spec, &spec); err != nil {
		return nil, nil, fmt.Errorf("experiment %s: %w", x.ID, err)
	}
	until := x.StoppedAt
	if until.IsZero() {
		until = now.Add(time.Millisecond)
	}
	rows, err := tx.VariantRows(spec.Plugin, x.CreatedAt, until)
	if err != nil {
		return nil, nil, err
	}
	var order []string // the experiment's variants first, in its order
	if spec.Variant != "" {
		order = append(order, spec.Variant)
	}
	for _, v := range spec.Variants {
		order = append(order, v.Name)
	}
	byVariant := map[string]*variantAcc{}
	for _, row := range rows {
		if x.Target != store.TargetFleet && row.NeuronID != x.Target || !slices.Contains(order, row.Variant) {
			continue
		}
		acc := byVariant[row.Variant]
		if acc == nil {
			acc = &variantAcc{latest: map[string]store.BreakdownRow{}, custom: map[string]float64{}}
			byVariant[row.Variant] = acc
		}
		acc.add(row)
	}
	out := []variantResult{}
	for _, name := range order {
		if acc := byVariant[name]; acc != nil {
			out = append(out, acc.result(name))
		}
	}
	stopped, err := stoppedVariants(tx, x)
	return out, stopped, err
}

// variantAcc sums one variant's rows.
type variantAcc struct {
	total, failed, weighted float64
	latest                  map[string]store.BreakdownRow // by neuron
	custom                  map[string]float64
}

func (a *variantAcc) add(row store.BreakdownRow) {
	a.total += row.TotalRequests
	a.failed += row.FailedRequests
	a.weighted += row.AvgResponseTime * row.TotalRequests
	a.latest[row.NeuronID] = row // rows come oldest first
	for k, v := range row.CustomMetrics {
		a.custom[k] += v
	}
}

func (a *variantAcc) result(name string) variantResult {
	r := variantResult{Variant: name, Neurons: len(a.latest), TotalRequests: a.total, FailedRequests: a.failed,
		CustomMetrics: a.custom}
	if a.total > 0 {
		r.ErrorRate = 100 * a.failed / a.total
		r.AverageResponseTime = a.weighted / a.total
	}
	for _, id := range slices.Sorted(maps.Keys(a.latest)) {
		l := a.latest[id]
		r.P50, r.P95, r.P99 = max(r.P50, l.P50), max(r.P95, l.P95), max(r.P99, l.P99)
	}
	return r
}

// stoppedVariants lists the experiment_variant_stopped events of x from
// the neurons it targeted, newest first.
func stoppedVariants(tx *store.Tx, x store.Experiment) ([]stoppedView, error) {
	f := store.EventFilter{Type: eventVariantStopped, Experiment: x.ID, Since: x.CreatedAt, Limit: maxStoppedEvents}
	if x.Target != store.TargetFleet {
		f.NeuronID = x.Target
	}
	es, err := tx.Events(f)
	if err != nil {
		return nil, err
	}
	out := []stoppedView{}
	for _, e := range es {
		var d struct {
			Variant   string          `json:"variant"`
			Metric    string          `json:"metric"`
			Value     json.RawMessage `json:"value"`
			Threshold json.RawMessage `json:"threshold"`
		}
		_ = json.Unmarshal(e.Data, &d) // the runtime's shape; other fields stay empty
		out = append(out, stoppedView{Variant: d.Variant, NeuronID: e.NeuronID, At: stamp(e.At), Metric: d.Metric,
			Value: d.Value, Threshold: d.Threshold,
			Reason: fmt.Sprintf("guardrail: %s %s past its threshold %s", d.Metric, d.Value, d.Threshold)})
	}
	return out, nil
}
