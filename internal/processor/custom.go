package processor

import (
	"encoding/json"
	"maps"
)

// Caps on what one processor version's custom counters and events can
// make the host keep: each counter is a /metrics series and an entry of
// every analytics report, each event type a series of
// neuron_events_total. Without them one processor adding metrics under
// ever new names made /metrics tens of MiB and the analytics reports too
// large for the federation, the other processors' analytics included.
// Constants, not configuration: a processor with more names than this
// should put the variable part in event data, not in names. The volume
// of events per analytics interval is capped by package report. See
// docs/design.md, "What can a processor make the host spend?".
const (
	// MaxCustomMetrics is the most custom counters one processor version
	// may have; metric_add on another name adds nothing, is counted in
	// CustomDroppedMetrics, and returns abi.ErrCodeLimit.
	MaxCustomMetrics = 100
	// MaxEventTypes is the most event types one processor version may
	// emit; an event of another type is dropped, counted in
	// CustomDroppedEvents, and event_emit returns abi.ErrCodeLimit.
	MaxEventTypes = 100
)

// Keys the runtime adds to a processor's ProcessorInfo.Custom, and so to
// its customMetrics in the analytics reports, when its caps dropped
// anything: the metric_add calls and the events refused. A guest cannot
// add to them.
const (
	CustomDroppedMetrics = "neuron_dropped_metric_adds"
	CustomDroppedEvents  = "neuron_dropped_events"
)

// customState is what a processor version's custom counters and events
// left: the counters, the event types seen, and what the caps refused.
// Guarded by Record.customMu.
type customState struct {
	counters                   map[string]float64
	types                      map[string]struct{}
	droppedAdds, droppedEvents float64
}

func newCustomState() customState {
	return customState{counters: map[string]float64{}, types: map[string]struct{}{}}
}

// AddMetric implements host.Env, within MaxCustomMetrics.
func (p *Version) AddMetric(name string, v float64) bool {
	if p.Mod == nil || p.Record == nil { // the module is being probed: it is nobody yet
		return true
	}
	c := p.Record
	c.customMu.Lock()
	_, known := c.custom.counters[name]
	ok := known || len(c.custom.counters) < MaxCustomMetrics && name != CustomDroppedMetrics && name != CustomDroppedEvents
	if ok {
		c.custom.counters[name] += v
	} else {
		c.custom.droppedAdds++
	}
	c.customMu.Unlock()
	if !ok {
		p.svc.Metrics.Dropped.WithLabelValues(p.Name(), p.Version(), p.Digest12(), "metric").Inc()
		p.metricCapLog.Warn("processor has its most custom metrics: adds to other names are dropped and counted",
			"cap", MaxCustomMetrics, "name", name, "counted_in", CustomDroppedMetrics)
		return false
	}
	p.svc.Metrics.Custom.WithLabelValues(p.Name(), p.Version(), p.Digest12(), name).Add(v)
	return true
}

// Emit implements host.Env, within MaxEventTypes.
func (p *Version) Emit(eventType string, data json.RawMessage) bool {
	if p.Mod == nil || p.Record == nil { // the module is being probed: it is nobody yet
		return true
	}
	c := p.Record
	c.customMu.Lock()
	_, known := c.custom.types[eventType]
	ok := known || len(c.custom.types) < MaxEventTypes
	if !ok {
		c.custom.droppedEvents++
	} else if !known {
		c.custom.types[eventType] = struct{}{}
	}
	c.customMu.Unlock()
	if !ok {
		p.svc.Metrics.Dropped.WithLabelValues(p.Name(), p.Version(), p.Digest12(), "event").Inc()
		p.eventCapLog.Warn("processor has emitted its most event types: events of other types are dropped and counted",
			"cap", MaxEventTypes, "type", eventType, "counted_in", CustomDroppedEvents)
		return false
	}
	p.svc.Emit(eventType, p.Name(), p.Version(), data)
	return true
}

// CustomMetrics returns a copy of the version's custom counters, with
// what its caps dropped.
func (v *Record) CustomMetrics() map[string]float64 {
	v.customMu.Lock()
	defer v.customMu.Unlock()
	m := maps.Clone(v.custom.counters)
	if v.custom.droppedAdds > 0 {
		m[CustomDroppedMetrics] = v.custom.droppedAdds
	}
	if v.custom.droppedEvents > 0 {
		m[CustomDroppedEvents] = v.custom.droppedEvents
	}
	return m
}
