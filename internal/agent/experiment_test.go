package agent_test

import (
	"fmt"
	"testing"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/federation/fedtest"
	"github.com/empirefederation/neuron/internal/experiment"
	"github.com/empirefederation/neuron/internal/testutil"
)

// TestFederation_Experiment pushes a traffic split between data-processor
// 1.0.0 and 1.1.0 through POST /api/neuron/update-config: calls are routed
// by their user query parameter, the analytics carry a row per variant, and
// promoting the 1.0.0 variant pins it as the serving version.
func TestFederation_Experiment(t *testing.T) {
	fed := fedtest.New(t)
	plugins := pluginsDir(t, map[string]string{"dp-1.wasm": "examples/dataprocessor/v1.0.0", "dp-2.wasm": "examples/dataprocessor/v1.1.0"})
	n := start(t, "--config", federationConfig(t, fed, plugins, dataDir(t), ""))
	testutil.Eventually(t, waitLimit, "registration (its first heartbeat: the neuron holds its token)", func() bool { return len(fed.Heartbeats()) > 0 })

	exp := federation.Experiment{ID: "exp-dp", Plugin: "data-processor", StickyKey: "query:user", Variants: []federation.Variant{
		{Name: "control", Weight: 50, Version: "1.1.0"}, {Name: "old", Weight: 50, Version: "1.0.0"}}}
	if r := n.push(t, newest(fed), `{"experiment": {"id": "exp-dp", "plugin": "data-processor", "stickyKey": "query:user",
		"variants": [{"name": "control", "weight": 50, "version": "1.1.0"}, {"name": "old", "weight": 50, "version": "1.0.0"}]}}`); r.status != 200 {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	split, err := experiment.Compile(exp)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"control": "data-processor@1.1.0", "old": "data-processor@1.0.0"}
	calls := map[string]int{}
	for i := range 40 {
		key := fmt.Sprintf("user-%d", i)
		r := n.do(t, "GET", "/status?user="+key, "")
		name := split.Name(split.Assign(key))
		if r.status != 200 || r.header.Get("X-Neuron-Variant") != name || r.header.Get("X-Neuron-Plugin") != want[name] {
			t.Fatalf("key %s: %d variant %q plugin %q, want %s on %s", key, r.status, r.header.Get("X-Neuron-Variant"), r.header.Get("X-Neuron-Plugin"), name, want[name])
		}
		calls[name]++
	}

	testutil.Eventually(t, waitLimit, "variant rows in analytics", func() bool {
		got := map[string]int64{}
		for _, a := range fed.Analytics() {
			for _, row := range a.Breakdown {
				if row.Variant != "" {
					got[row.Variant+"@"+row.Version] += row.TotalRequests
				}
			}
		}
		return got["control@1.1.0"] == int64(calls["control"]) && got["old@1.0.0"] == int64(calls["old"])
	})

	if r := n.push(t, newest(fed), `{"experiment": {"id": "exp-dp", "stop": true, "promote": "old"}}`); r.status != 200 {
		t.Fatalf("promote: %d %s", r.status, r.body)
	}
	for i := range 10 {
		r := n.do(t, "GET", fmt.Sprintf("/status?user=user-%d", i), "")
		if r.header.Get("X-Neuron-Variant") != "" || r.header.Get("X-Neuron-Plugin") != "data-processor@1.0.0" {
			t.Fatalf("after promote: variant %q plugin %q, want data-processor@1.0.0 alone", r.header.Get("X-Neuron-Variant"), r.header.Get("X-Neuron-Plugin"))
		}
	}
	if r := n.push(t, newest(fed), `{"experiment": {"id": "exp-dp", "stop": true, "promote": "nope"}}`); r.status == 200 {
		t.Errorf("promoting with no experiment running was accepted: %s", r.body)
	}
}
