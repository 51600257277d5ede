package report

import (
	"strconv"
	"time"

	"github.com/empirefederation/neuron/federation"
)

// variantTotals are a variant's cumulative counters at one report.
type variantTotals struct {
	requests, errors, clientErrors uint64
	latency                        time.Duration // mean × requests
}

// variantRows returns a breakdown row per variant of each experiment
// running, or ended since the last call: the counts and mean latency of
// the interval since the last call (the difference of the engine's
// cumulative statistics, which the runtime keeps after the experiment
// ends, for the calls it served after the last report), and the
// quantiles since the experiment started, as the engine keeps them. A
// variant without calls in the interval has no row. Called under r.mu.
func (r *Reporter) variantRows() []federation.BreakdownRow {
	rt := r.opts.Runtime
	cur := map[string]variantTotals{}
	var rows []federation.BreakdownRow
	// An experiment ending while this reads may be in both lists: its key
	// (id, run and variant) counts it once.
	for _, x := range append(rt.EndedExperiments(), rt.Experiments()...) {
		for _, v := range x.Variants {
			key := x.ID + "\x00" + strconv.FormatUint(x.Epoch, 10) + "\x00" + v.Name
			if _, dup := cur[key]; dup {
				continue
			}
			t := variantTotals{v.Requests, v.Errors, v.ClientErrors, v.Mean * time.Duration(v.Requests)}
			cur[key] = t
			p := r.variants[key]
			n := int64(t.requests - p.requests)
			if n == 0 {
				continue
			}
			failed := int64(t.errors-p.errors) + int64(t.clientErrors-p.clientErrors)
			rows = append(rows, federation.BreakdownRow{Plugin: x.Plugin, Version: v.Version, Variant: v.Name,
				TotalRequests: n, SuccessfulRequests: n - failed, FailedRequests: failed,
				AverageResponseTime: round2(float64((t.latency - p.latency).Microseconds()) / 1000 / float64(n)),
				P50:                 ms(v.P50), P95: ms(v.P95), P99: ms(v.P99)})
		}
	}
	r.variants = cur
	return rows
}

func ms(d time.Duration) float64 { return round2(float64(d.Microseconds()) / 1000) }
