package runtime_test

import (
	"context"
	"encoding/json"
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/experiment"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// compileSplit compiles an experiment on plugin with variants given as
// name, weight, version triples, keyed by the X-User header.
func compileSplit(t *testing.T, id, plugin string, g *federation.Guardrails, vs ...federation.Variant) *experiment.Split {
	t.Helper()
	s, err := experiment.Compile(federation.Experiment{ID: id, Plugin: plugin, Variants: vs, StickyKey: "header:X-User", Guardrails: g})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runtimeVariants turns the split's variants into what SetExperiment takes.
func runtimeVariants(vs []federation.Variant) []runtime.ExperimentVariant {
	var out []runtime.ExperimentVariant
	for _, v := range vs {
		out = append(out, runtime.ExperimentVariant{Name: v.Name, Version: v.Version, Config: v.Config})
	}
	return out
}

// TestExperimentSplitsByKey serves echo at 1.0.0 and 1.1.0 and splits its
// calls 50/50 between them by the X-User header.
func TestExperimentSplitsByKey(t *testing.T) {
	v1, v2 := guestBuild(t, "echo", "1.0.0", "a"), guestBuild(t, "echo", "1.1.0", "b")
	files := v1.files("echo-1")
	maps.Copy(files, v2.files("echo-2"))
	e := startEnv(t, runtime.Options{}, files)
	vs := []federation.Variant{{Name: "control", Weight: 50, Version: "1.1.0"}, {Name: "old", Weight: 50, Version: "1.0.0"}}
	split := compileSplit(t, "exp-key", "echo", nil, vs...)
	if err := e.rt.SetExperiment(context.Background(), split, runtimeVariants(vs)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"control": "echo@1.1.0", "old": "echo@1.0.0"}
	counts := map[string]int{}
	const keys = 2000
	for i := range keys {
		key := "user-" + strconv.Itoa(i)
		r := e.get("/t/echo/1", "X-User", key)
		name := split.Name(split.Assign(key))
		if r.status != 200 || r.header.Get(runtime.HeaderVariant) != name || r.header.Get(runtime.HeaderPlugin) != want[name] {
			t.Fatalf("key %s: status %d, variant %q, plugin %q; want variant %q on %s",
				key, r.status, r.header.Get(runtime.HeaderVariant), r.header.Get(runtime.HeaderPlugin), name, want[name])
		}
		counts[name]++
	}
	for name, n := range counts { // loose: the engine's own tests are strict
		if n < keys*40/100 || n > keys*60/100 {
			t.Errorf("variant %s got %d of %d keys, want about half", name, n, keys)
		}
	}
	for range 3 { // the same key, the same variant
		if r := e.get("/t/echo/1", "X-User", "user-7"); r.header.Get(runtime.HeaderVariant) != split.Name(split.Assign("user-7")) {
			t.Fatalf("user-7 moved to %s", r.header.Get(runtime.HeaderVariant))
		}
	}
	infos := e.rt.Experiments()
	if len(infos) != 1 || infos[0].ID != "exp-key" || infos[0].Variants[0].Requests+infos[0].Variants[1].Requests != keys+3 {
		t.Errorf("Experiments() = %+v, want exp-key with %d calls", infos, keys+3)
	}
	if n := e.mustMetric("neuron_experiment_requests_total", "experiment", "exp-key", "variant", "old", "outcome", "success"); int(n) != counts["old"]+boolInt(split.Name(split.Assign("user-7")) == "old")*3 {
		t.Errorf("neuron_experiment_requests_total{old,success} = %v, want %d", n, counts["old"])
	}

	if err := e.rt.StopExperiment("exp-key"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		r := e.get("/t/echo/1", "X-User", "user-"+strconv.Itoa(i))
		if r.header.Get(runtime.HeaderVariant) != "" || r.header.Get(runtime.HeaderPlugin) != "echo@1.1.0" {
			t.Fatalf("after stop: variant %q plugin %q, want none on echo@1.1.0", r.header.Get(runtime.HeaderVariant), r.header.Get(runtime.HeaderPlugin))
		}
	}
	if err := e.rt.StopExperiment("exp-key"); err == nil || !strings.Contains(err.Error(), "no such experiment") {
		t.Errorf("second stop: %v, want no such experiment", err)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestExperimentRefusals: a version that is not loaded, a plugin that does
// not serve, variants that do not match the split.
func TestExperimentRefusals(t *testing.T) {
	e := startEnv(t, runtime.Options{}, guests(t, "echo"))
	vs := []federation.Variant{{Name: "a", Weight: 50}, {Name: "b", Weight: 50, Version: "9.9.9"}}
	for _, tc := range []struct {
		name  string
		split *experiment.Split
		vars  []runtime.ExperimentVariant
		want  string
	}{
		{"version not loaded", compileSplit(t, "x", "echo", nil, vs...), runtimeVariants(vs), "echo@9.9.9 is not loaded (loaded: 1.0.0)"},
		{"plugin not serving", compileSplit(t, "x", "nope", nil, vs...), runtimeVariants(vs), "no processor of that name is loaded"},
		{"variant missing", compileSplit(t, "x", "echo", nil, vs...), runtimeVariants(vs[:1]), "1 variants given for 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.rt.SetExperiment(context.Background(), tc.split, tc.vars)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("SetExperiment: %v, want %q", err, tc.want)
			}
			if len(e.rt.Experiments()) != 0 {
				t.Fatal("a refused experiment runs")
			}
		})
	}
}

// TestExperimentVariantConfig: two variants of the same version with
// different configs answer with their own config, on the same instances.
func TestExperimentVariantConfig(t *testing.T) {
	e := startEnv(t, runtime.Options{Settings: map[string]any{"shared": "yes", "color": "none"}}, guests(t, "echo"))
	vs := []federation.Variant{
		{Name: "control", Weight: 50, Config: map[string]any{"color": "red"}},
		{Name: "blue", Weight: 50, Config: map[string]any{"color": "blue"}},
	}
	split := compileSplit(t, "exp-cfg", "echo", nil, vs...)
	if err := e.rt.SetExperiment(context.Background(), split, runtimeVariants(vs)); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := range 200 {
		key := "k" + strconv.Itoa(i)
		r := e.do("POST", "/t/echo/host", nil, "X-User", key)
		var cfg map[string]any
		if err := json.Unmarshal(r.body, &cfg); err != nil {
			t.Fatalf("key %s: %s: %v", key, r.body, err)
		}
		name := split.Name(split.Assign(key))
		want := map[string]string{"control": "red", "blue": "blue"}[name]
		if cfg["color"] != want || cfg["shared"] != "yes" || r.header.Get(runtime.HeaderVariant) != name {
			t.Fatalf("key %s (variant %s) saw config %v, header %q; want color %s over the settings", key, name, cfg, r.header.Get(runtime.HeaderVariant), want)
		}
		seen[name] = true
	}
	if len(seen) != 2 {
		t.Fatalf("variants seen %v, want both", seen)
	}
	if err := e.rt.StopExperiment("exp-cfg"); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(e.do("POST", "/t/echo/host", nil, "X-User", "k1").body, &cfg); err != nil || cfg["color"] != "none" {
		t.Fatalf("after stop the config is %v (%v), want the processor's own", cfg, err)
	}
}

// TestExperimentGuardrail: a variant failing every 5th call (20%) is
// stopped by an error-rate guardrail of 5%, an event says so, and its keys
// go to the control.
func TestExperimentGuardrail(t *testing.T) {
	e := startEnv(t, runtime.Options{Limits: runtime.Limits{PoolMin: 1, PoolMax: 1}}, guests(t, "flaky"))
	vs := []federation.Variant{
		{Name: "control", Weight: 50},
		{Name: "failing", Weight: 50, Config: map[string]any{"failEvery": 5}},
	}
	split := compileSplit(t, "exp-guard", "flaky", &federation.Guardrails{ErrorRate: 5}, vs...)
	if err := e.rt.SetExperiment(context.Background(), split, runtimeVariants(vs)); err != nil {
		t.Fatal(err)
	}
	var failingKey string
	for i := 0; failingKey == ""; i++ {
		if k := "u" + strconv.Itoa(i); split.Name(split.Assign(k)) == "failing" {
			failingKey = k
		}
	}
	i := 0
	testutil.Eventually(t, waitLimit, "the failing variant to be stopped", func() bool {
		for range 50 {
			e.get("/t/flaky", "X-User", "u"+strconv.Itoa(i))
			i++
		}
		return len(e.events.ofType(runtime.EventExperimentVariantStopped)) > 0
	})
	ev := e.events.ofType(runtime.EventExperimentVariantStopped)
	var d map[string]any
	if err := json.Unmarshal(ev[0].Data, &d); err != nil {
		t.Fatal(err)
	}
	if d["experiment"] != "exp-guard" || d["variant"] != "failing" || d["metric"] != experiment.MetricErrorRate || d["threshold"] != 5.0 {
		t.Errorf("event data %v, want exp-guard/failing on errorRate over 5", d)
	}
	for range 10 {
		if r := e.get("/t/flaky", "X-User", failingKey); r.status != 200 || r.header.Get(runtime.HeaderVariant) != "control" {
			t.Fatalf("stopped variant's key: status %d variant %q, want 200 from control", r.status, r.header.Get(runtime.HeaderVariant))
		}
	}
	if st := e.rt.Experiments()[0].Variants[1]; !st.Stopped || st.Errors == 0 {
		t.Errorf("failing variant stats %+v, want stopped with errors", st)
	}
	if len(e.logs.find("experiment variant stopped by a guardrail; its traffic goes to the control")) == 0 {
		t.Error("no WARN log for the stopped variant")
	}
}

// TestExperimentVersionLeaves: the experiment keeps its versions; when one
// is removed its traffic goes to the control and an event says so.
func TestExperimentVersionLeaves(t *testing.T) {
	v1, v2 := guestBuild(t, "echo", "1.0.0", "a"), guestBuild(t, "echo", "1.1.0", "b")
	files := v1.files("echo-1")
	maps.Copy(files, v2.files("echo-2"))
	e := startEnv(t, runtime.Options{}, files)
	vs := []federation.Variant{{Name: "control", Weight: 50, Version: "1.1.0"}, {Name: "old", Weight: 50, Version: "1.0.0"}}
	split := compileSplit(t, "exp-gone", "echo", nil, vs...)
	if err := e.rt.SetExperiment(context.Background(), split, runtimeVariants(vs)); err != nil {
		t.Fatal(err)
	}
	var oldKey string
	for i := 0; oldKey == ""; i++ {
		if k := "u" + strconv.Itoa(i); split.Name(split.Assign(k)) == "old" {
			oldKey = k
		}
	}
	if got := e.get("/t/echo/1", "X-User", oldKey).header.Get(runtime.HeaderPlugin); got != "echo@1.0.0" {
		t.Fatalf("old key served by %s", got)
	}
	e.remove("echo-1.wasm", "echo-1.json")
	e.sync()
	r := e.get("/t/echo/1", "X-User", oldKey)
	if r.header.Get(runtime.HeaderPlugin) != "echo@1.1.0" || r.header.Get(runtime.HeaderVariant) != "control" {
		t.Fatalf("after 1.0.0 left: plugin %q variant %q, want echo@1.1.0 as control", r.header.Get(runtime.HeaderPlugin), r.header.Get(runtime.HeaderVariant))
	}
	testutil.Eventually(t, waitLimit, "an experiment_variant_unavailable event", func() bool {
		return len(e.events.ofType(runtime.EventExperimentVariantUnavailable)) == 1
	})
}

// TestEndedExperiments: an experiment stopped or replaced keeps its
// statistics, up to its last call, in EndedExperiments, the last
// MaxEndedExperiments of them; each run has its own Epoch.
func TestEndedExperiments(t *testing.T) {
	e := startEnv(t, runtime.Options{}, guests(t, "echo"))
	vs := []federation.Variant{{Name: "control", Weight: 50, Version: "1.0.0"}, {Name: "other", Weight: 50, Version: "1.0.0"}}
	calls := func(x runtime.ExperimentInfo) uint64 { return x.Variants[0].Requests + x.Variants[1].Requests }
	start := func(id string) {
		t.Helper()
		if err := e.rt.SetExperiment(context.Background(), compileSplit(t, id, "echo", nil, vs...), runtimeVariants(vs)); err != nil {
			t.Fatal(err)
		}
	}
	start("exp-0")
	for range 3 {
		if r := e.get("/t/echo/1"); r.header.Get(runtime.HeaderVariant) == "" {
			t.Fatalf("not split: %d %q", r.status, r.header.Get(runtime.HeaderVariant))
		}
	}
	running := e.rt.Experiments()
	if err := e.rt.StopExperiment("exp-0"); err != nil {
		t.Fatal(err)
	}
	ended := e.rt.EndedExperiments()
	if len(ended) != 1 || ended[0].ID != "exp-0" || ended[0].Epoch != running[0].Epoch || calls(ended[0]) != 3 {
		t.Fatalf("EndedExperiments() = %+v after exp-0 served 3 calls and stopped (running it was %+v)", ended, running)
	}
	for i := 1; i <= runtime.MaxEndedExperiments; i++ { // each replaces the one before
		start("exp-" + strconv.Itoa(i))
	}
	e.get("/t/echo/1") // counted by the running one
	start("exp-0")     // the same id again: another run
	ended = e.rt.EndedExperiments()
	if len(ended) != runtime.MaxEndedExperiments || ended[0].ID != "exp-1" || ended[len(ended)-1].ID != "exp-20" ||
		calls(ended[len(ended)-1]) != 1 {
		t.Errorf("EndedExperiments() holds %d, from %s to %s; want the last %d, exp-1 to exp-20 with its call",
			len(ended), ended[0].ID, ended[len(ended)-1].ID, runtime.MaxEndedExperiments)
	}
	if now := e.rt.Experiments(); len(now) != 1 || now[0].ID != "exp-0" || now[0].Epoch == running[0].Epoch || calls(now[0]) != 0 {
		t.Errorf("Experiments() = %+v: want exp-0 again, a new run counting from zero", now)
	}
}
