package report

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/runtime"
	"github.com/empirefederation/neuron/sdk/abi"
)

// counters stands in for the runtime's cumulative counters: the reporter's
// job is the arithmetic over them, which this test drives step by step.
// The agent's tests run the same reports over real traffic.
type counters struct {
	mu      sync.Mutex
	traffic []runtime.Traffic
	procs   []runtime.ProcessorInfo
	waiting int
}

func (c *counters) Traffic() []runtime.Traffic {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]runtime.Traffic(nil), c.traffic...)
}
func (c *counters) Processors() []runtime.ProcessorInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]runtime.ProcessorInfo(nil), c.procs...)
}
func (c *counters) Endpoints() []abi.Endpoint {
	return []abi.Endpoint{{Method: "POST", Path: "/process", Description: "Process a batch"}}
}
func (c *counters) Waiting() int { return c.waiting }

// Experiments: per-variant rows are tested over a real runtime in
// internal/agent.
func (c *counters) Experiments() []runtime.ExperimentInfo      { return nil }
func (c *counters) EndedExperiments() []runtime.ExperimentInfo { return nil }

func (c *counters) set(t runtime.Traffic, custom map[string]float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Custom = custom
	c.traffic = []runtime.Traffic{t}
	c.procs = []runtime.ProcessorInfo{{Name: t.Plugin, Version: t.Version, Digest: "abc123", Serving: true, Custom: custom,
		Manifest: abi.Manifest{Capabilities: []string{"data_processing"}}}}
}

func newReporter(c *counters, sys System, deps []Dependency) (*Reporter, *Events) {
	ev := &Events{}
	r := New(Options{
		Registration: federation.Registration{NeuronID: "n-1", Capabilities: []string{"batch_operations"},
			AlertThresholds: federation.AlertThresholds{ErrorRate: 5, ResponseTime: 2000, HealthScore: 80}},
		BuildVersion: "build-1", Started: time.Now(), Runtime: c,
		System:        func() System { return sys },
		Dependencies:  func() []Dependency { return deps },
		Connections:   func() int { return 3 },
		ConfigVersion: func() string { return "v1" },
		Events:        ev,
	})
	return r, ev
}

func TestAnalyticsIsTheInterval(t *testing.T) {
	c := &counters{}
	c.set(runtime.Traffic{Plugin: "dp", Version: "1.0.0", Requests: 10, Succeeded: 9, ServerErrors: 1,
		LatencyNanos: uint64(100 * time.Millisecond), BytesIn: 1000}, map[string]float64{"recordsProcessed": 50})
	r, ev := newReporter(c, System{}, nil)
	c.set(runtime.Traffic{Plugin: "dp", Version: "1.0.0", Requests: 30, Succeeded: 26, ClientErrors: 1, ServerErrors: 3,
		LatencyNanos: uint64(300 * time.Millisecond), BytesIn: 5000}, map[string]float64{"recordsProcessed": 150})
	ev.Record(federation.Event{Type: "batch_completed"})

	a := r.Analytics()
	want := federation.Metrics{TotalRequests: 20, SuccessfulRequests: 17, FailedRequests: 3, AverageResponseTime: 10,
		DataProcessed: 4000, CustomMetrics: map[string]float64{"recordsProcessed": 100}}
	if got, _ := json.Marshal(a.Metrics); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("metrics\n got %s\nwant %s", got, must(json.Marshal(want)))
	}
	if len(a.Breakdown) != 1 || a.Breakdown[0].Plugin != "dp" || a.Breakdown[0].TotalRequests != 20 {
		t.Errorf("breakdown %+v", a.Breakdown)
	}
	if len(a.Events) != 1 || a.Events[0].ID == "" || a.Events[0].Timestamp.IsZero() {
		t.Errorf("events %+v", a.Events)
	}
	if a.NeuronID != "n-1" {
		t.Errorf("neuronId %q", a.NeuronID)
	}
	// Nothing happened since: an empty interval, not the same numbers again.
	if a := r.Analytics(); a.Metrics.TotalRequests != 0 || len(a.Events) != 0 || len(a.Breakdown) != 0 {
		t.Errorf("second report repeats the first: %+v", a)
	}
}

func TestStatusDegradesAndAlertsOnce(t *testing.T) {
	c := &counters{waiting: 4}
	c.set(runtime.Traffic{Plugin: "dp", Version: "1"}, nil)
	r, ev := newReporter(c, System{CPU: 10, Memory: 20, Disk: 30}, []Dependency{{Name: "postgresql", Status: "healthy"}})
	c.set(runtime.Traffic{Plugin: "dp", Version: "1", Requests: 100, Succeeded: 100, LatencyNanos: uint64(100 * 50 * time.Millisecond)}, nil)
	s := r.Status()
	if s.Status != federation.StatusActive || s.HealthScore != 100 || s.PerformanceMetrics.SuccessRate != 100 {
		t.Fatalf("healthy neuron: %+v", s)
	}
	if s.ApplicationMetrics.AverageResponseTime != 50 || s.ApplicationMetrics.QueueSize != 4 || s.ApplicationMetrics.ActiveConnections != 3 {
		t.Errorf("application metrics %+v", s.ApplicationMetrics)
	}
	if s.DependencyStatus["postgresql"] != "healthy" || s.ConfigVersion != "v1" || s.BuildVersion != "build-1" || s.ProcessID == "" {
		t.Errorf("status %+v", s)
	}
	// 10% errors against a 5% threshold: degraded, one alert.
	c.set(runtime.Traffic{Plugin: "dp", Version: "1", Requests: 200, Succeeded: 190, ServerErrors: 10, LatencyNanos: uint64(200 * 50 * time.Millisecond)}, nil)
	if s := r.Status(); s.Status != federation.StatusDegraded || s.PerformanceMetrics.ErrorCount != 10 {
		t.Fatalf("10%% errors: %+v", s)
	}
	c.set(runtime.Traffic{Plugin: "dp", Version: "1", Requests: 300, Succeeded: 280, ServerErrors: 20, LatencyNanos: uint64(300 * 50 * time.Millisecond)}, nil)
	r.Status() // still past it: no second alert
	c.set(runtime.Traffic{Plugin: "dp", Version: "1", Requests: 400, Succeeded: 380, ServerErrors: 20, LatencyNanos: uint64(400 * 50 * time.Millisecond)}, nil)
	if s := r.Status(); s.Status != federation.StatusActive {
		t.Fatalf("recovered: %+v", s)
	}
	var types []string
	for _, e := range ev.Take() {
		types = append(types, e.Type)
	}
	if len(types) < 2 || types[0] != "alert" || types[len(types)-1] != "alert_resolved" {
		t.Errorf("events %v, want alert ... alert_resolved", types)
	}
	r.SetPhase(federation.StatusStopping)
	if s := r.Status(); s.Status != federation.StatusStopping {
		t.Errorf("phase: %q", s.Status)
	}
}

func TestHealthScore(t *testing.T) {
	th := federation.AlertThresholds{ErrorRate: 5, ResponseTime: 2000, HealthScore: 80}
	for _, tc := range []struct {
		name string
		h    health
		want int
	}{
		{"idle", health{}, 100},
		{"cpu 80%", health{cpu: 80}, 90},
		{"cpu and memory full", health{cpu: 100, memory: 100}, 60},
		{"at the error threshold", health{errorRate: 5}, 70},
		{"far past the error threshold", health{errorRate: 50}, 70},
		{"half the latency threshold", health{latencyMs: 1000}, 93},
		{"one of two required dependencies down", health{required: 2, requiredDown: 1}, 85},
		{"optional dependency down", health{optional: 1, optionalDown: 1}, 95},
		{"everything wrong", health{cpu: 100, memory: 100, errorRate: 100, latencyMs: 9000, required: 1, requiredDown: 1, optional: 1, optionalDown: 1}, 0},
	} {
		if got := tc.h.score(th); got != tc.want {
			t.Errorf("%s: score %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestRegistrationFromProcessors(t *testing.T) {
	c := &counters{}
	c.set(runtime.Traffic{Plugin: "dp", Version: "1"}, nil)
	r, _ := newReporter(c, System{}, nil)
	reg := r.Registration()
	if len(reg.APIEndpoints) != 1 || reg.APIEndpoints[0].Path != "/process" || reg.APIEndpoints[0].Method != "POST" {
		t.Errorf("endpoints %+v", reg.APIEndpoints)
	}
	if len(reg.Capabilities) != 2 || reg.Capabilities[0] != "batch_operations" || reg.Capabilities[1] != "data_processing" {
		t.Errorf("capabilities %v", reg.Capabilities)
	}
	if got := reg.Metadata[MetadataProcessors]; got != "dp@1+sha256:abc123" {
		t.Errorf("metadata processors %q", got)
	}
	if got, ok := reg.Metadata[MetadataSources]; ok {
		t.Errorf("metadata sources %q with nothing pulled, want none", got)
	}
	r.opts.Sources = func() []string { return []string{"registry.example/b:v1@sha256:bb", "registry.example/a:v1@sha256:aa"} }
	if got := r.Registration().Metadata[MetadataSources]; got != "registry.example/a:v1@sha256:aa,registry.example/b:v1@sha256:bb" {
		t.Errorf("metadata sources %q, want both sorted", got)
	}
}

func TestEventsBounded(t *testing.T) {
	ev := &Events{}
	for range MaxEvents + 10 {
		ev.Record(federation.Event{Type: "x"})
	}
	got := ev.Take()
	if len(got) != MaxEvents+1 || got[len(got)-1].Type != "events_dropped" || string(got[len(got)-1].Data) != `{"bytesLimit":262144,"dropped":10,"limit":1000}` {
		t.Errorf("%d events, last %+v", len(got), got[len(got)-1])
	}
}

// TestEventsProcessorShare: a processor emitting thousands of large
// events in an interval keeps its share, the rest counted in an
// events_dropped event naming it; another processor's events and the
// neuron's own are all kept, and the report's events stay small.
func TestEventsProcessorShare(t *testing.T) {
	ev := &Events{}
	big := json.RawMessage(`{"pad":"` + strings.Repeat("x", 1014) + `"}`)
	ev.Record(federation.Event{Type: "plugin_loaded", Plugin: "spam", Version: "1.0.0"})
	for range 10000 {
		ev.RecordProcessor(federation.Event{Type: "spam", Plugin: "spam", Version: "1.0.0", Data: big})
	}
	ev.RecordProcessor(federation.Event{Type: "tidy_done", Plugin: "tidy", Version: "1.0.0", Data: json.RawMessage(`{}`)})
	got := ev.Take()
	counts := map[string]int{}
	var dropped string
	for _, e := range got {
		counts[e.Type]++
		if e.Type == "events_dropped" && e.Plugin == "spam" {
			dropped = string(e.Data)
		}
	}
	kept := MaxProcessorEventBytes / len(big)
	if counts["spam"] != kept || counts["tidy_done"] != 1 || counts["plugin_loaded"] != 1 || counts["events_dropped"] != 1 {
		t.Fatalf("events kept by type %v: want %d spam, the others all", counts, kept)
	}
	if want := fmt.Sprintf(`{"bytesLimit":%d,"dropped":%d,"limit":%d}`, MaxProcessorEventBytes, 10000-kept, MaxProcessorEvents); dropped != want {
		t.Errorf("spam's events_dropped %s, want %s", dropped, want)
	}
	if b := must(json.Marshal(got)); len(b) > 2*MaxProcessorEventBytes {
		t.Errorf("events are %d bytes of JSON", len(b))
	}
	if again := ev.Take(); len(again) != 0 {
		t.Errorf("the next interval starts with %d events, want none", len(again))
	}
	// A new interval is a new share.
	ev.RecordProcessor(federation.Event{Type: "spam", Plugin: "spam", Version: "1.0.0", Data: big})
	if got := ev.Take(); len(got) != 1 {
		t.Errorf("next interval: %d events, want 1", len(got))
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestAnalyticsAcrossEpochs: a row with the same Epoch continues
// (nothing counted twice), one with a new Epoch (the runtime forgot the
// version and loaded it again) counts from zero, whether or not a report
// saw it gone (nothing lost); custom counters are diffed the same way.
func TestAnalyticsAcrossEpochs(t *testing.T) {
	c := &counters{}
	row := func(epoch, n uint64, custom float64) runtime.Traffic {
		return runtime.Traffic{Plugin: "dp", Version: "1.0.0", Epoch: epoch, Requests: n, Succeeded: n, Custom: map[string]float64{"records": custom}}
	}
	c.traffic = []runtime.Traffic{row(1, 10, 100)}
	r, _ := newReporter(c, System{}, nil)
	steps := []struct {
		what    string
		traffic []runtime.Traffic
		want    int64
		records float64
	}{
		{"served 5 more", []runtime.Traffic{row(1, 15, 150)}, 5, 50},
		{"loaded again after it was forgotten: a new run", []runtime.Traffic{row(2, 3, 30)}, 3, 30},
		{"the same run, 2 more", []runtime.Traffic{row(2, 5, 50)}, 2, 20},
		{"forgotten", nil, 0, 0},
		{"loaded again: another run", []runtime.Traffic{row(3, 4, 40)}, 4, 40},
	}
	for _, s := range steps {
		c.mu.Lock()
		c.traffic = s.traffic
		c.mu.Unlock()
		a := r.Analytics()
		if a.Metrics.TotalRequests != s.want || a.Metrics.CustomMetrics["records"] != s.records {
			t.Errorf("%s: %d requests, custom %v; want %d and records %v", s.what, a.Metrics.TotalRequests, a.Metrics.CustomMetrics, s.want, s.records)
		}
	}
}

// TestAnalyticsReportsAreDistinct: two reports of the same numbers built
// back to back encode differently, so that a federation that stores a
// report body once (a retried delivery) keeps both.
func TestAnalyticsReportsAreDistinct(t *testing.T) {
	c := &counters{}
	c.set(runtime.Traffic{Plugin: "dp", Version: "1.0.0"}, nil)
	r, _ := newReporter(c, System{}, nil)
	a, b := must(json.Marshal(r.Analytics())), must(json.Marshal(r.Analytics()))
	if string(a) == string(b) {
		t.Errorf("two reports encode the same: %s", a)
	}
}
