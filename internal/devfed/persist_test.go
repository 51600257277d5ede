package devfed

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Everything survives a restart of the federation: neurons and their
// tokens, heartbeats, reports, events, configs with their history,
// experiments, commands and their outcomes, deliveries, acknowledgements
// and the revision sequence.
func TestPersistence(t *testing.T) {
	f := newFed(t)
	nrn := newFakeNeuron(t)
	a := f.register(regBody("a", nrn.URL()))
	b := f.register(regBody("b", ""))
	f.beat(a, "active", "")
	f.beat(b, "degraded", "")
	f.must("POST", "/api/analytics/report", a, map[string]any{"neuronId": "a", "metrics": map[string]any{"totalRequests": 3},
		"events":    []any{map[string]any{"id": "e1", "type": "plugin_loaded", "data": map[string]any{"x": 1}}},
		"breakdown": []any{map[string]any{"plugin": "data-processor", "variant": "b", "totalRequests": 3, "p95": 2}}}, 200, nil)
	f.report(b, "b", map[string]any{"type": "batch_completed", "timestamp": "2025-01-21T11:30:00Z"})
	f.admin("POST", "/api/admin/configs", `{"target": "fleet", "config": {"batchSize": 1}}`, 201, nil)
	f.admin("POST", "/api/admin/configs", `{"target": "fleet", "config": {"batchSize": 2}}`, 201, nil)
	f.admin("POST", "/api/admin/configs", `{"target": "a", "config": {"maxRetries": 4}}`, 201, nil)
	f.admin("POST", "/api/admin/experiments", startBody("fleet", splitExp), 201, nil)
	f.poll(b)
	f.beat(b, "degraded", "fed-4")
	f.admin("POST", "/api/admin/experiments/exp-1/stop", `{"promote": "b"}`, 200, nil)
	f.admin("POST", "/api/admin/experiments", startBody("a", `{"id": "exp-2", "variant": "v"}`), 201, nil)
	f.admin("POST", "/api/admin/commands", `{"target": "fleet", "type": "flush_analytics"}`, 201, nil)
	f.clock.Add(time.Second)

	views := []string{"/api/admin/overview", "/api/admin/neurons", "/api/admin/neurons/a", "/api/admin/neurons/b",
		"/api/admin/configs", "/api/admin/experiments", "/api/admin/experiments/exp-1", "/api/admin/experiments/exp-2",
		"/api/admin/commands"}
	for _, id := range []string{"a", "b"} {
		for _, sub := range []string{"heartbeats", "analytics", "events"} {
			views = append(views, "/api/admin/neurons/"+id+"/"+sub)
		}
	}
	snapshot := func() map[string]string {
		out := map[string]string{}
		for _, v := range views {
			_, env := f.call("GET", v, f.opts.AdminToken, nil)
			out[v] = string(env.Data)
		}
		return out
	}
	stopPoll := f.poll(b)
	if !strings.Contains(stopPoll, `"stop":true`) {
		t.Fatalf("b polls %s before the restart, want the stop", stopPoll)
	}
	before := snapshot()
	f.reopen()
	after := snapshot()
	for _, v := range views {
		if before[v] != after[v] {
			t.Errorf("GET %s changed across the restart:\nbefore %s\nafter  %s", v, before[v], after[v])
		}
		if len(before[v]) < 3 {
			t.Errorf("GET %s is empty: %s", v, before[v])
		}
	}
	if got := f.poll(b); got != stopPoll {
		t.Errorf("b polls %s after the restart, want %s", got, stopPoll)
	}
	f.beat(a, "active", "") // tokens survive: the key is on disk
	f.beat(b, "active", "fed-5")
	if got := f.poll(b); strings.Contains(got, "exp-1") {
		t.Errorf("the acknowledged stop is still served: %s", got)
	}
	var c configView
	f.admin("POST", "/api/admin/configs", `{"target": "fleet", "config": {"batchSize": 3}}`, 201, &c)
	if c.Rev != 8 {
		t.Errorf("rev %d after the restart, want 8 (the sequence goes on)", c.Rev)
	}
	var buf bytes.Buffer
	_ = json.Indent(&buf, []byte(after["/api/admin/neurons/a"]), "", " ")
	if !strings.Contains(buf.String(), `"status": "succeeded"`) {
		t.Errorf("a's command outcome lost: %s", buf.String())
	}
}

// Open refuses a bad token key and a database from a newer binary, with
// what to do.
func TestOpenErrors(t *testing.T) {
	if _, err := Open(Options{AdminToken: "x"}); err == nil || !strings.Contains(err.Error(), "DataDir") {
		t.Errorf("no DataDir: %v", err)
	}
	if _, err := Open(Options{DataDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "AdminToken") {
		t.Errorf("no AdminToken: %v", err)
	}
	dir := t.TempDir()
	writeFile(t, dir+"/"+keyFile, "short")
	if _, err := Open(Options{DataDir: dir, AdminToken: "x"}); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("short key: %v", err)
	}
}

func TestGenerateToken(t *testing.T) {
	a, b := GenerateToken(), GenerateToken()
	if a == b || len(a) != 43 || strings.ContainsAny(a, "+/=") {
		t.Errorf("tokens %q %q: want 43 base64url characters, each new", a, b)
	}
}
