package agent_test

import (
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

	var tidyRequests int64
	var tidyCalls, spamNames, droppedAdds, droppedEvents float64
	spamEvents, spamDropped := 0, 0
	testutil.Eventually(t, waitLimit, "both processors' calls in the analytics", func() bool {
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
					spamDropped++
				}
			}
		}
		spamNames = float64(len(names))
		tidyEvents := count(events(fed), "tidy_done")
		return tidyRequests == 2 && tidyCalls == 2 && tidyEvents == 2
	})
	if spamDropped == 0 {
		t.Errorf("no events_dropped event names spam")
	}
	if spamNames > runtime.MaxCustomMetrics+2 || droppedAdds != 10000-runtime.MaxCustomMetrics {
		t.Errorf("spam's custom metrics in analytics: %v names, %v adds dropped; want at most %d names, %d dropped",
			spamNames, droppedAdds, runtime.MaxCustomMetrics+2, 10000-runtime.MaxCustomMetrics)
	}
	if droppedEvents != 10000-runtime.MaxEventTypes || spamEvents > report.MaxProcessorEvents {
		t.Errorf("spam's events: %d reported, %v dropped for their types; want at most %d, and %d dropped",
			spamEvents, droppedEvents, report.MaxProcessorEvents, 10000-runtime.MaxEventTypes)
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
