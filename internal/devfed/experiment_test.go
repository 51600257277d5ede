package devfed

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// splitExp is a traffic-splitting experiment on data-processor.
const splitExp = `{"id": "exp-1", "plugin": "data-processor", "stickyKey": "json:batchId",
	"variants": [{"name": "control", "weight": 50, "version": "1.0.0"}, {"name": "b", "weight": 50, "version": "1.1.0", "config": {"batchSize": 1500}}],
	"guardrails": {"errorRate": 5}}`

func startBody(target, exp string) string {
	return `{"target": "` + target + `", "experiment": ` + exp + `}`
}

// pollExperiment returns the experiment of the neuron's effective update
// (nil when none) and its version.
func pollExperiment(t *testing.T, f *fed, token string) (map[string]any, string) {
	t.Helper()
	var u struct {
		Experiment map[string]any `json:"experiment"`
		Version    string         `json:"version"`
	}
	if raw := f.poll(token); raw != "{}" {
		if err := json.Unmarshal([]byte(raw), &u); err != nil {
			t.Fatal(err)
		}
	}
	return u.Experiment, u.Version
}

// A stopped experiment is served as a stop only until the neuron
// acknowledges it: a neuron refuses a stop with promote of an experiment
// it no longer runs.
func TestStopServedUntilAcknowledged(t *testing.T) {
	f := newFed(t)
	token := f.register(regBody("n-1", ""))
	f.beat(token, "active", "")
	var x experimentView
	f.admin("POST", "/api/admin/experiments", startBody("fleet", splitExp), 201, &x)
	if x.Status != "running" || x.Target != "fleet" || !strings.Contains(string(x.Spec), `"stickyKey":"json:batchId"`) {
		t.Errorf("experiment %+v spec %s", x, x.Spec)
	}
	exp, version := pollExperiment(t, f, token)
	if exp["id"] != "exp-1" || exp["plugin"] != "data-processor" || version != "fed-1" {
		t.Fatalf("poll: %v %s", exp, version)
	}
	f.beat(token, "active", version)

	f.admin("POST", "/api/admin/experiments/exp-1/stop", `{"promote": "b"}`, 200, &x)
	if x.Status != "stopped" || x.StoppedAt == nil || x.Promote != "b" {
		t.Errorf("stopped experiment %+v", x)
	}
	exp, version = pollExperiment(t, f, token)
	if exp["id"] != "exp-1" || exp["stop"] != true || exp["promote"] != "b" || version != "fed-2" {
		t.Fatalf("poll after stop: %v %s", exp, version)
	}
	f.beat(token, "active", "fed-1") // not yet
	if exp, _ := pollExperiment(t, f, token); exp["stop"] != true {
		t.Errorf("stop no longer served before the neuron acknowledged it: %v", exp)
	}
	f.beat(token, "active", "fed-2")
	if raw := f.poll(token); raw != "{}" {
		t.Errorf("poll after the acknowledgement: %s, want {}", raw)
	}
	// A neuron that never ran the experiment never gets its stop.
	late := f.register(regBody("n-2", ""))
	if raw := f.poll(late); raw != "{}" {
		t.Errorf("a neuron registered after the stop polls %s, want {}", raw)
	}
	f.admin("POST", "/api/admin/experiments/exp-1/stop", `{}`, http.StatusConflict, nil)
}

// Over push: a 200 acknowledges the stop; a 422 of a stop with promote
// (the neuron no longer runs the experiment) makes it a plain stop, which
// a neuron always takes, so later updates are not blocked.
func TestStopOverPush(t *testing.T) {
	f := newFed(t)
	nrn := newFakeNeuron(t)
	token := f.register(regBody("n-1", nrn.URL()))
	f.beat(token, "active", "")
	f.admin("POST", "/api/admin/experiments", startBody("n-1", splitExp), 201, nil)
	var x experimentView
	f.admin("POST", "/api/admin/experiments/exp-1/stop", `{"promote": "control"}`, 200, &x)
	if d := deliveryOf(t, x.Deliveries, "n-1"); d.Status != "applied" {
		t.Errorf("stop delivery %+v", d)
	}
	if stop := nrn.last(t).Update["experiment"].(map[string]any); stop["stop"] != true || stop["promote"] != "control" {
		t.Errorf("pushed %v", stop)
	}
	if raw := f.poll(token); raw != "{}" {
		t.Errorf("poll after a stop answered 200: %s", raw)
	}

	f.admin("POST", "/api/admin/experiments", startBody("n-1", strings.Replace(splitExp, "exp-1", "exp-2", 1)), 201, nil)
	nrn.setAnswer(rejectAll(`experiment exp-2: promote "b": no traffic-splitting experiment of that id runs`))
	f.admin("POST", "/api/admin/experiments/exp-2/stop", `{"promote": "b"}`, 200, &x)
	if d := deliveryOf(t, x.Deliveries, "n-1"); d.Status != "rejected" || !strings.Contains(d.Detail, "no traffic-splitting") {
		t.Errorf("refused stop delivery %+v", d)
	}
	nrn.setAnswer(applyAll)
	f.admin("POST", "/api/admin/configs", `{"target": "n-1", "config": {"batchSize": 2}}`, 201, nil)
	u := nrn.last(t).Update
	if stop, _ := u["experiment"].(map[string]any); stop["id"] != "exp-2" || stop["stop"] != true || stop["promote"] != nil || u["version"] != "fed-5" {
		t.Errorf("the update after a refused stop: %v, want the plain stop", u)
	}
	f.admin("POST", "/api/admin/configs", `{"target": "n-1", "config": {"batchSize": 3}}`, 201, nil)
	if u := nrn.last(t).Update; u["experiment"] != nil || u["version"] != "fed-6" {
		t.Errorf("the update after the plain stop was taken: %v", u)
	}
}

// A neuron's own experiment wins over the fleet's; one experiment runs
// per target.
func TestExperimentPrecedence(t *testing.T) {
	f := newFed(t)
	a := f.register(regBody("a", ""))
	b := f.register(regBody("b", ""))
	f.admin("POST", "/api/admin/experiments", startBody("fleet", `{"id": "fleet-exp", "variant": "fast", "config": {"batchSize": 100}}`), 201, nil)
	f.admin("POST", "/api/admin/experiments", startBody("a", `{"id": "a-exp", "variant": "slow"}`), 201, nil)
	if exp, _ := pollExperiment(t, f, a); exp["id"] != "a-exp" {
		t.Errorf("a runs %v, want a-exp", exp)
	}
	if exp, _ := pollExperiment(t, f, b); exp["id"] != "fleet-exp" || exp["config"].(map[string]any)["batchSize"] != float64(100) {
		t.Errorf("b runs %v, want fleet-exp", exp)
	}
	status, env := f.call("POST", "/api/admin/experiments", f.opts.AdminToken, startBody("fleet", `{"id": "other", "variant": "x"}`))
	if status != http.StatusConflict || !strings.Contains(env.Error, "fleet-exp") {
		t.Errorf("second fleet experiment: %d %q", status, env.Error)
	}
	status, env = f.call("POST", "/api/admin/experiments", f.opts.AdminToken, startBody("b", `{"id": "a-exp", "variant": "x"}`))
	if status != http.StatusConflict || !strings.Contains(env.Error, "never reused") {
		t.Errorf("reused id: %d %q", status, env.Error)
	}
	// Stopping a's own experiment brings it back to the fleet's.
	f.admin("POST", "/api/admin/experiments/a-exp/stop", "", 200, nil)
	if exp, _ := pollExperiment(t, f, a); exp["id"] != "fleet-exp" {
		t.Errorf("a runs %v after its own stopped, want fleet-exp", exp)
	}
	var list []experimentView
	f.admin("GET", "/api/admin/experiments", nil, 200, &list)
	if len(list) != 2 || list[0].ID != "a-exp" || list[0].Status != "stopped" || list[1].Status != "running" {
		t.Errorf("experiments %+v", list)
	}
	if d := f.neuron("a"); len(d.Experiments) != 2 {
		t.Errorf("a's detail lists %d experiments, want 2", len(d.Experiments))
	}
	if d := f.neuron("b"); len(d.Experiments) != 1 {
		t.Errorf("b's detail lists %d experiments, want 1", len(d.Experiments))
	}
	if _, env := f.call("GET", "/api/admin/experiments/fleet-exp", f.opts.AdminToken, nil); !strings.Contains(string(env.Data), `"results":[],"stopped":[]`) {
		t.Errorf("an experiment without results: %s", env.Data)
	}
}

// Results aggregate the breakdown rows of the experiment's variants;
// guardrail stops come from experiment_variant_stopped events.
func TestExperimentResults(t *testing.T) {
	f := newFed(t)
	a := f.register(regBody("a", ""))
	b := f.register(regBody("b", ""))
	f.admin("POST", "/api/admin/experiments", startBody("fleet", splitExp), 201, nil)
	row := func(variant string, total, failed, avg, p95 float64) map[string]any {
		return map[string]any{"plugin": "data-processor", "version": "1.0.0", "variant": variant, "totalRequests": total,
			"successfulRequests": total - failed, "failedRequests": failed, "averageResponseTime": avg,
			"customMetrics": map[string]any{"duplicatesFound": 1}, "p50": avg, "p95": p95, "p99": p95 * 2}
	}
	send := func(token, id string, rows ...map[string]any) {
		f.must("POST", "/api/analytics/report", token, map[string]any{"neuronId": id, "metrics": map[string]any{},
			"breakdown": rows}, 200, nil)
	}
	send(a, "a", row("control", 100, 1, 10, 30), row("b", 100, 10, 20, 50))
	send(a, "a", row("control", 100, 1, 30, 35), row("other-exp-variant", 5, 0, 1, 1))
	send(b, "b", row("control", 200, 0, 10, 20))
	f.report(a, "a", map[string]any{"id": "g1", "type": "experiment_variant_stopped", "plugin": "data-processor",
		"data": map[string]any{"experiment": "exp-1", "variant": "b", "metric": "errorRate", "value": 10, "threshold": 5}})
	f.report(b, "b", map[string]any{"id": "g2", "type": "experiment_variant_stopped",
		"data": map[string]any{"experiment": "other", "variant": "b"}})

	var x experimentDetail
	f.admin("GET", "/api/admin/experiments/exp-1", nil, 200, &x)
	if len(x.Results) != 2 {
		t.Fatalf("results %+v", x.Results)
	}
	c, v := x.Results[0], x.Results[1]
	if c.Variant != "control" || c.Neurons != 2 || c.TotalRequests != 400 || c.FailedRequests != 2 || c.ErrorRate != 0.5 ||
		c.AverageResponseTime != 15 || c.P95 != 35 || c.P99 != 70 || c.CustomMetrics["duplicatesFound"] != 3 {
		t.Errorf("control %+v", c)
	}
	if v.Variant != "b" || v.Neurons != 1 || v.ErrorRate != 10 || v.P95 != 50 {
		t.Errorf("b %+v", v)
	}
	if len(x.Stopped) != 1 || x.Stopped[0].Variant != "b" || x.Stopped[0].NeuronID != "a" || !strings.Contains(x.Stopped[0].Reason, "errorRate") {
		t.Errorf("stopped %+v", x.Stopped)
	}
}

func TestAdminValidation(t *testing.T) {
	f := newFed(t)
	f.register(regBody("n-1", ""))
	cfg := map[string]any{"target": "fleet", "config": map[string]any{"batchSize": 10}}
	checkAdmin(t, f, "/api/admin/configs", cfg, []badCase{
		{"target", del, "target"},
		{"target", 1, "target"},
		{"target", "not an id", "target"},
		{"config", del, "config"},
		{"config", []any{}, "config"},
		{"config.batchSize", 0, "config.batchSize"},
		{"config.batchSize", 1.5, "config.batchSize"},
		{"config.batchSize", "10", "config.batchSize"},
		{"config.maxRetries", -1, "config.maxRetries"},
		{"config.timeoutSeconds", 0, "config.timeoutSeconds"},
		{"config.timeoutSeconds", 3601, "config.timeoutSeconds"},
		{"config.enableDebugMode", "yes", "config.enableDebugMode"},
		{"config.plugins", "x", "config.plugins"},
		{"config.plugins.dp", 5, "config.plugins.dp"},
		{"config.plugins.dp.batchSize", 0, "config.plugins.dp.batchSize"},
	})
	// plugins.NAME.KEY: the runtime keys checked, the others left to the
	// neuron, which knows what its processors declare.
	for body, want := range map[string]int{
		`{"target": "fleet", "config": {"plugins.dp.batchSize": 0}}`:                              http.StatusBadRequest,
		`{"target": "fleet", "config": {"plugins.my.dp.batchSize": "10"}}`:                        http.StatusBadRequest,
		`{"target": "fleet", "config": {"plugins.dp.batchSize": 10, "plugins.dp.colour": "red"}}`: http.StatusCreated,
	} {
		status, env := f.call("POST", "/api/admin/configs", f.opts.AdminToken, body)
		if status != want || want == http.StatusBadRequest && !strings.HasPrefix(env.Field, "config.plugins.") {
			t.Errorf("%s: %d field %q (%s), want %d", body, status, env.Field, env.Error, want)
		}
	}
	status, env := f.call("POST", "/api/admin/configs", f.opts.AdminToken, map[string]any{"target": "ghost", "config": map[string]any{}})
	if status != http.StatusNotFound || env.Code != "not_found" {
		t.Errorf("unknown target: %d %s", status, env.Code)
	}
	status, env = f.call("POST", "/api/admin/configs", f.opts.AdminToken, `{"target": "fleet", "config": {"plugins.dp": 5}}`)
	if status != http.StatusBadRequest || env.Field != "config.plugins.dp" {
		t.Errorf("flat plugins key: %d field %q", status, env.Field)
	}

	var split map[string]any
	_ = json.Unmarshal([]byte(startBody("fleet", splitExp)), &split)
	checkAdmin(t, f, "/api/admin/experiments", split, []badCase{
		{"experiment", del, "experiment"},
		{"experiment", "x", "experiment"},
		{"experiment.id", del, "experiment.id"},
		{"experiment.stop", true, "experiment.stop"},
		{"experiment.variant", "a", "experiment.variant"},
		{"experiment.config", map[string]any{}, "experiment.config"},
		{"experiment.plugin", "", "experiment.plugin"},
		{"experiment.variants", "ab", "experiment.variants"},
		{"experiment.variants", []any{map[string]any{"name": "a", "weight": 100}}, "experiment.variants"},
		{"experiment.variants[1].name", "control", "experiment.variants[1].name"},
		{"experiment.variants[1].name", del, "experiment.variants[1].name"},
		{"experiment.variants[0].weight", 50.5, "experiment.variants[0].weight"},
		{"experiment.variants[0].weight", del, "experiment.variants[0].weight"},
		{"experiment.variants[0].weight", 101, "experiment.variants[0].weight"},
		{"experiment.variants[0].weight", 40, "experiment.variants"},
		{"experiment.variants[0].version", 1, "experiment.variants[0].version"},
		{"experiment.variants[1].config.batchSize", 0, "experiment.variants[1].config.batchSize"},
		{"experiment.variants[1].name", " b", "experiment"}, // the engine's own rule
		{"experiment.stickyKey", "cookie:x", "experiment.stickyKey"},
		{"experiment.stickyKey", "header:", "experiment.stickyKey"},
		{"experiment.guardrails.errorRate", 101, "experiment.guardrails.errorRate"},
		{"experiment.guardrails.responseTime", "slow", "experiment.guardrails.responseTime"},
	})
	ref := map[string]any{"target": "fleet", "experiment": map[string]any{"id": "r", "variant": "v"}}
	checkAdmin(t, f, "/api/admin/experiments", ref, []badCase{
		{"experiment.variant", del, "experiment.variant"},
		{"experiment.variant", 1, "experiment.variant"},
		{"experiment.stickyKey", "query:id", "experiment.stickyKey"},
		{"experiment.config", 1, "experiment.config"},
		{"experiment.config.timeoutSeconds", -1, "experiment.config.timeoutSeconds"},
		{"experiment.promote", "v", "experiment.promote"},
	})
	f.admin("POST", "/api/admin/experiments", split, 201, nil)
	checkAdmin(t, f, "/api/admin/experiments/exp-1/stop", map[string]any{}, []badCase{
		{"promote", 1, "promote"},
		{"promote", "nope", "promote"},
	})
	f.admin("POST", "/api/admin/experiments/exp-1/stop", nil, 200, nil)
	f.admin("POST", "/api/admin/experiments", ref, 201, nil)
	checkAdmin(t, f, "/api/admin/experiments/r/stop", map[string]any{}, []badCase{{"promote", "v", "promote"}})

	cmd := map[string]any{"target": "n-1", "type": "drain"}
	checkAdmin(t, f, "/api/admin/commands", cmd, []badCase{
		{"target", del, "target"},
		{"type", del, "type"},
		{"type", "reboot", "type"},
		{"data", "x", "data"},
	})
	status, _ = f.call("POST", "/api/admin/commands", f.opts.AdminToken, `{"target": "ghost", "type": "drain"}`)
	if status != http.StatusNotFound {
		t.Errorf("command to an unknown neuron: %d", status)
	}
	for _, q := range []string{"/api/admin/neurons/n-1/heartbeats?since=yesterday", "/api/admin/neurons/n-1/events?limit=0",
		"/api/admin/neurons/n-1/analytics?limit=5001", "/api/admin/commands?limit=x"} {
		status, env := f.call("GET", q, f.opts.AdminToken, nil)
		if status != http.StatusBadRequest || (env.Field != "since" && env.Field != "limit") {
			t.Errorf("GET %s: %d field %q", q, status, env.Field)
		}
	}
}

// checkAdmin is checkBad with the admin token.
func checkAdmin(t *testing.T, f *fed, path string, base map[string]any, cases []badCase) {
	t.Helper()
	checkBad(t, f, path, f.opts.AdminToken, base, cases)
}

func TestAdminAuth(t *testing.T) {
	f := newFed(t)
	neuronToken := f.register(regBody("n-1", ""))
	paths := []string{"/api/admin/overview", "/api/admin/neurons", "/api/admin/neurons/n-1", "/api/admin/neurons/n-1/heartbeats",
		"/api/admin/neurons/n-1/analytics", "/api/admin/neurons/n-1/events", "/api/admin/configs", "/api/admin/experiments",
		"/api/admin/experiments/x", "/api/admin/commands"}
	for _, p := range paths {
		for _, tok := range []string{"", "wrong", neuronToken, f.opts.AdminToken + "x"} {
			status, env := f.call("GET", p, tok, nil)
			if status != http.StatusUnauthorized || !strings.Contains(env.Error, "ADMIN_TOKEN") {
				t.Errorf("GET %s with %q: %d %q", p, tok, status, env.Error)
			}
		}
	}
	for _, p := range []string{"/api/admin/configs", "/api/admin/experiments", "/api/admin/experiments/x/stop", "/api/admin/commands"} {
		if status, _ := f.call("POST", p, "", "{}"); status != http.StatusUnauthorized {
			t.Errorf("POST %s without a token: %d", p, status)
		}
	}
}
