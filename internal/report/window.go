package report

import (
	"time"

	"github.com/empirefederation/neuron/runtime"
)

// usage is the traffic of one processor version over an interval.
type usage struct {
	plugin, version string
	requests        int64
	succeeded       int64 // status < 400
	clientErrors    int64 // 4xx
	serverErrors    int64 // 5xx
	latency         time.Duration
	bytesIn         int64
	custom          map[string]float64
}

func (u *usage) add(o usage) {
	u.requests += o.requests
	u.succeeded += o.succeeded
	u.clientErrors += o.clientErrors
	u.serverErrors += o.serverErrors
	u.latency += o.latency
	u.bytesIn += o.bytesIn
	for k, v := range o.custom {
		if u.custom == nil {
			u.custom = map[string]float64{}
		}
		u.custom[k] += v
	}
}

// averageMs is the mean request duration in milliseconds, 0 without traffic.
func (u usage) averageMs() float64 {
	if u.requests == 0 {
		return 0
	}
	return float64(u.latency.Microseconds()) / 1000 / float64(u.requests)
}

// window turns the runtime's cumulative counters into per-interval usage:
// each call of next returns what happened since the previous one. The
// heartbeat and the analytics report each have their own window.
//
// The runtime keeps the row of a version that left (replaced, unloaded,
// rolled back from) with what it served up to its last call, so the
// window counts every request once: a row never goes back, except as a
// new run of the counters (another Epoch), which counts from zero. A row
// the runtime forgot counted nothing since this window last read it, or
// more than runtime.MaxRetiredVersions versions retired in between.
type window struct {
	at      time.Time
	traffic map[string]runtime.Traffic
}

// next returns the usage per processor version (key NAME@VERSION, "" for
// requests no processor claimed) since the last call, and its length.
func (w *window) next(now time.Time, traffic []runtime.Traffic) (map[string]usage, time.Duration) {
	out := map[string]usage{}
	cur := make(map[string]runtime.Traffic, len(traffic))
	for _, t := range traffic {
		key := id(t.Plugin, t.Version)
		cur[key] = t
		p := w.traffic[key]
		if p.Epoch != t.Epoch { // the runtime forgot the version and counts it anew
			p = runtime.Traffic{}
		}
		u := usage{
			plugin: t.Plugin, version: t.Version,
			requests:     int64(t.Requests - p.Requests),
			succeeded:    int64(t.Succeeded - p.Succeeded),
			clientErrors: int64(t.ClientErrors - p.ClientErrors),
			serverErrors: int64(t.ServerErrors - p.ServerErrors),
			latency:      time.Duration(t.LatencyNanos - p.LatencyNanos),
			bytesIn:      int64(t.BytesIn - p.BytesIn),
		}
		for name, v := range t.Custom {
			if d := v - p.Custom[name]; d != 0 {
				if u.custom == nil {
					u.custom = map[string]float64{}
				}
				u.custom[name] = d
			}
		}
		out[key] = u
	}
	elapsed := now.Sub(w.at)
	w.at, w.traffic = now, cur
	return out, elapsed
}

func id(plugin, version string) string {
	if plugin == "" {
		return ""
	}
	return plugin + "@" + version
}
