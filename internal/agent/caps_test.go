package agent_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/federation/fedtest"
	"github.com/empirefederation/neuron/internal/devfed"
	"github.com/empirefederation/neuron/internal/report"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// TestProcessorCaps: a processor that adds to 10,000 counters of distinct
// names and emits 10,000 events of 1 KiB in one call gets its caps, the
// excess counted in /metrics and in the analytics; /metrics stays small,
// every analytics report fits what the development federation accepts,
// and the well-behaved processor next to it has its analytics intact.
func TestProcessorCaps(t *testing.T) {
	fed := fedtest.New(t)
	plugins := pluginsDir(t, nil)
	bin := testutil.Wat(t, "testdata/spam.wat")
	for name, export := range map[string]string{"spam": "spam", "tidy": "tidy"} {
		manifest := `{"name":"` + name + `","version":"1.0.0","endpoints":[{"method":"POST","path":"/` + name + `","export":"` + export + `"}]}`
		if err := os.WriteFile(filepath.Join(plugins, name+".wasm"), bin, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(plugins, name+".json"), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n := start(t, "--config", federationConfig(t, fed, plugins, dataDir(t), ""))
	for _, path := range []string{"/tidy", "/spam", "/tidy"} {
		if r := n.do(t, "POST", path, ""); r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
	}

	// The spam call's events that pass the runtime's cap on event types
	// (one per type) reach the analytics within spam's share of each
	// interval; the rest of an interval's are counted in an events_dropped
	// event naming it. How many land in each interval depends on where the
	// interval's end falls during the call: wait until every one is either
	// reported or counted, then check each report kept to the share.
	var tidyRequests int64
	var tidyCalls, spamNames, droppedAdds, droppedEvents float64
	spamEvents, spamDropped := 0, 0
	testutil.Eventually(t, waitLimit, "both processors' calls in the analytics, and each of spam's events reported or counted as dropped", func() bool {
		tidyRequests, tidyCalls, spamNames, droppedAdds, droppedEvents = 0, 0, 0, 0, 0
		spamEvents, spamDropped = 0, 0
		names := map[string]bool{}
		for _, r := range fed.Analytics() {
			for _, row := range r.Breakdown {
				switch row.Plugin {
				case "tidy":
					tidyRequests += row.TotalRequests
					tidyCalls += row.CustomMetrics["tidy_calls"]
				case "spam":
					for k := range row.CustomMetrics {
						names[k] = true
					}
					droppedAdds += row.CustomMetrics[runtime.CustomDroppedMetrics]
					droppedEvents += row.CustomMetrics[runtime.CustomDroppedEvents]
				}
			}
			for _, e := range r.Events {
				switch {
				case e.Plugin == "spam" && strings.HasPrefix(e.Type, "m"):
					spamEvents++
				case e.Plugin == "spam" && e.Type == "events_dropped":
					var d struct{ Dropped int }
					if err := json.Unmarshal(e.Data, &d); err != nil || d.Dropped <= 0 {
						t.Fatalf("spam's events_dropped event says %s, want a positive count of dropped events", e.Data)
					}
					spamDropped += d.Dropped
				}
			}
		}
		spamNames = float64(len(names))
		tidyEvents := count(events(fed), "tidy_done")
		return tidyRequests == 2 && tidyCalls == 2 && tidyEvents == 2 && spamEvents+spamDropped >= runtime.MaxEventTypes
	})
	if spamEvents+spamDropped != runtime.MaxEventTypes {
		t.Errorf("spam's events: %d reported and %d counted as dropped, want %d in all (one per type the runtime let through)",
			spamEvents, spamDropped, runtime.MaxEventTypes)
	}
	if spamNames > runtime.MaxCustomMetrics+2 || droppedAdds != 10000-runtime.MaxCustomMetrics {
		t.Errorf("spam's custom metrics in analytics: %v names, %v adds dropped; want at most %d names, %d dropped",
			spamNames, droppedAdds, runtime.MaxCustomMetrics+2, 10000-runtime.MaxCustomMetrics)
	}
	if droppedEvents != 10000-runtime.MaxEventTypes {
		t.Errorf("spam's events dropped for their types: %v, want %d", droppedEvents, 10000-runtime.MaxEventTypes)
	}
	// Within spam's share in every report: its 100 events of 1 KiB are past
	// the share's bytes, so a report that got them all dropped some.
	for i, r := range fed.Analytics() {
		n, size := 0, 0
		for _, e := range r.Events {
			if e.Plugin == "spam" && strings.HasPrefix(e.Type, "m") {
				n, size = n+1, size+len(e.Data)
			}
		}
		if n > report.MaxProcessorEvents || size > report.MaxProcessorEventBytes {
			t.Errorf("analytics report %d has %d events of spam, %d bytes of data; its share is %d events, %d bytes",
				i, n, size, report.MaxProcessorEvents, report.MaxProcessorEventBytes)
		}
	}
	for _, r := range fed.Requests("/api/analytics/report") {
		if len(r.Body) > devfed.MaxBodyBytes {
			t.Errorf("an analytics report of %d bytes: the federation takes at most %d", len(r.Body), devfed.MaxBodyBytes)
		}
	}

	metrics := n.do(t, "GET", "/metrics", "")
	if len(metrics.body) > 256<<10 {
		t.Errorf("/metrics is %d bytes", len(metrics.body))
	}
	if _, series := testutil.SumSamples(t, string(metrics.body), "neuron_plugin_custom_total", "plugin", "spam"); series > runtime.MaxCustomMetrics {
		t.Errorf("spam has %d custom metric series, want at most %d", series, runtime.MaxCustomMetrics)
	}
	// The types it emitted, and the runtime's plugin_loaded about it.
	if _, series := testutil.SumSamples(t, string(metrics.body), "neuron_events_total", "plugin", "spam"); series > runtime.MaxEventTypes+1 {
		t.Errorf("spam has %d event type series, want at most %d", series, runtime.MaxEventTypes+1)
	}
	for kind, want := range map[string]float64{"metric": 10000 - runtime.MaxCustomMetrics, "event": 10000 - runtime.MaxEventTypes} {
		if got, _ := testutil.SumSamples(t, string(metrics.body), "neuron_plugin_dropped_total", "plugin", "spam", "kind", kind); got != want {
			t.Errorf("neuron_plugin_dropped_total{kind=%q} = %v, want %v", kind, got, want)
		}
	}
	if got := strings.Count(n.log.String(), "processor has its most custom metrics"); got != 1 {
		t.Errorf("%d warnings about the custom metrics cap, want 1:\n%s", got, n.log)
	}
}
