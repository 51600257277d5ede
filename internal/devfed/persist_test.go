package devfed

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
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
	empty := t.TempDir()
	writeFile(t, filepath.Join(empty, AdminTokenFile), "\n")
	if _, err := Open(Options{DataDir: empty}); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("empty admin token file: %v", err)
	}
	dir := t.TempDir()
	writeFile(t, dir+"/"+keyFile, "short")
	if _, err := Open(Options{DataDir: dir, AdminToken: "x"}); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("short key: %v", err)
	}
}

// Without a token given, the federation serves the one kept in its data
// directory, generated the first time (0600): the dashboard's address is
// the same after a restart. A token given wins, and leaves the file alone.
func TestAdminTokenKept(t *testing.T) {
	dir := t.TempDir()
	serve := func(token string) string {
		t.Helper()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		d, err := Serve(ln, Options{DataDir: dir, AdminToken: token, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
		if err := d.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
		_, fragment, _ := strings.Cut(d.Dashboard(), "#token=")
		return fragment
	}
	first := serve("")
	if first == "" {
		t.Fatal("no admin token in the dashboard address")
	}
	file := filepath.Join(dir, AdminTokenFile)
	st, err := os.Stat(file)
	if err != nil {
		t.Fatalf("the generated admin token is not kept: %v", err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("%s has mode %o, want 600", file, mode)
	}
	if again := serve(""); again != first {
		t.Errorf("after a restart the dashboard token is %q, want the kept %q", again, first)
	}
	if given := serve("given-token-0123456789"); given != "given-token-0123456789" {
		t.Errorf("a given token: the dashboard token is %q, want it", given)
	}
	if kept := serve(""); kept != first {
		t.Errorf("the given token replaced the kept one: %q, want %q", kept, first)
	}
}

func TestGenerateToken(t *testing.T) {
	a, b := GenerateToken(), GenerateToken()
	if a == b || len(a) != 43 || strings.ContainsAny(a, "+/=") {
		t.Errorf("tokens %q %q: want 43 base64url characters, each new", a, b)
	}
}
