package report

import (
	"math"

	"github.com/empirefederation/neuron/federation"
)

// health is what the health score is computed from.
//
// The score starts at 100 and loses, each penalty growing linearly between
// its bounds (docs/federation.md has the table):
//
//	CPU above 60%                          up to 20 (at 100%)
//	memory above 70%                       up to 20 (at 100%)
//	5xx error rate, against errorRate      up to 30 (at the threshold)
//	mean latency, against responseTime     up to 15 (at the threshold)
//	required dependencies unhealthy        up to 30 (all of them)
//	optional dependencies unhealthy        up to 5  (all of them)
//
// so a neuron at its error-rate threshold scores at most 70, below the
// default healthScore threshold of 80. Crossing any threshold makes the
// status degraded whatever the score (see alerts).
type health struct {
	cpu, memory          float64 // percent
	errorRate, latencyMs float64
	required, requiredDown,
	optional, optionalDown int
}

func (h *health) addDependency(d Dependency) {
	down := d.Status == "unhealthy"
	if d.Optional {
		h.optional++
		if down {
			h.optionalDown++
		}
		return
	}
	h.required++
	if down {
		h.requiredDown++
	}
}

// score is the health score, 0 to 100.
func (h health) score(th federation.AlertThresholds) int {
	p := 20*ramp(h.cpu, 60, 100) + 20*ramp(h.memory, 70, 100) +
		30*ramp(h.errorRate, 0, th.ErrorRate) + 15*ramp(h.latencyMs, 0, th.ResponseTime) +
		30*fraction(h.requiredDown, h.required) + 5*fraction(h.optionalDown, h.optional)
	return int(math.Max(0, math.Round(100-p)))
}

// alert is one threshold crossed, as an alert event's data.
type alert struct {
	Metric    string  `json:"metric"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
}

// alerts lists the thresholds crossed: error rate or latency above theirs,
// the score below its, a required dependency unhealthy.
func (h health) alerts(th federation.AlertThresholds, score int) map[string]alert {
	out := map[string]alert{}
	if th.ErrorRate > 0 && h.errorRate > th.ErrorRate {
		out["errorRate"] = alert{"errorRate", round2(h.errorRate), th.ErrorRate}
	}
	if th.ResponseTime > 0 && h.latencyMs > th.ResponseTime {
		out["responseTime"] = alert{"responseTime", round2(h.latencyMs), th.ResponseTime}
	}
	if float64(score) < th.HealthScore {
		out["healthScore"] = alert{"healthScore", float64(score), th.HealthScore}
	}
	if h.requiredDown > 0 {
		out["dependencies"] = alert{"dependencies", float64(h.requiredDown), 0}
	}
	return out
}

// ramp is 0 at or below lo, 1 at or above hi, linear between.
func ramp(v, lo, hi float64) float64 {
	if hi <= lo {
		return 0
	}
	return math.Min(1, math.Max(0, (v-lo)/(hi-lo)))
}

func fraction(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}
