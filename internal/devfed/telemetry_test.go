package devfed

import (
	"strings"
	"testing"
	"time"
)

// Shown status follows the federation clock: registered before the first
// heartbeat, then the reported status, stale past 2.5 intervals, offline
// past 5.
func TestLiveness(t *testing.T) {
	f := newFed(t)
	token := f.register(regBody("n-1", ""))
	f.register(regBody("n-2", ""))
	status := func(id string) string { t.Helper(); return f.neuron(id).Status }
	steps := []struct {
		do   func()
		want string
	}{
		{func() {}, "registered"},
		{func() { f.clock.Add(25 * time.Second) }, "registered"}, // exactly 2.5 intervals: not yet stale
		{func() { f.clock.Add(time.Millisecond) }, "stale"},
		{func() { f.clock.Add(25 * time.Second) }, "offline"},
		{func() { f.beat(token, "degraded", "") }, "degraded"},
		{func() { f.clock.Add(25 * time.Second) }, "degraded"},
		{func() { f.clock.Add(time.Millisecond) }, "stale"},
		{func() { f.clock.Add(24999 * time.Millisecond) }, "stale"}, // exactly 5 intervals: not yet offline
		{func() { f.clock.Add(time.Millisecond) }, "offline"},
		{func() { f.beat(token, "draining", "") }, "draining"},
		{func() { f.beat(token, "stopping", "") }, "stopping"},
	}
	for i, s := range steps {
		s.do()
		if got := status("n-1"); got != s.want {
			t.Fatalf("step %d at %s: %s, want %s", i, f.clock.Now().Format(time.RFC3339Nano), got, s.want)
		}
	}
	var o struct {
		Neurons           int            `json:"neurons"`
		ByStatus          map[string]int `json:"byStatus"`
		Now               string         `json:"now"`
		HeartbeatInterval float64        `json:"heartbeatInterval"`
	}
	f.admin("GET", "/api/admin/overview", nil, 200, &o)
	if o.Neurons != 2 || o.ByStatus["stopping"] != 1 || o.ByStatus["offline"] != 1 || o.HeartbeatInterval != 10 ||
		o.Now != f.clock.Now().Format(time.RFC3339Nano) {
		t.Errorf("overview %+v", o)
	}
	var list []neuronSummary
	f.admin("GET", "/api/admin/neurons", nil, 200, &list)
	if len(list) != 2 || list[0].ID != "n-1" || list[0].Status != "stopping" || list[0].ReportedStatus != "stopping" ||
		list[1].Status != "offline" || list[1].ReportedStatus != "" || list[1].LastHeartbeat != nil || list[1].Metrics != nil {
		t.Errorf("neurons %+v", list)
	}
	if p := list[0].Processors; len(p) != 2 || p[0] != "data-processor@1.1.0+sha256:abcd" || p[1] != "hello@1.0.0" {
		t.Errorf("processors %q", p)
	}
}

func TestTimeSeries(t *testing.T) {
	f := newFed(t, func(o *Options) { o.TokenTTL = NoExpiry }) // one token across 80 minutes of the moved clock
	token := f.register(regBody("n-1", ""))
	for i := range 5 {
		f.beat(token, "active", "")
		f.must("POST", "/api/analytics/report", token, map[string]any{"neuronId": "n-1",
			"metrics":   map[string]any{"totalRequests": i, "customMetrics": map[string]any{"x": i}},
			"breakdown": []any{map[string]any{"plugin": "p", "totalRequests": i}}}, 200, nil)
		f.clock.Add(20 * time.Minute)
	}
	var hbs []heartbeatView
	f.admin("GET", "/api/admin/neurons/n-1/heartbeats", nil, 200, &hbs) // the last hour: beats at -60m, -40m, -20m
	if len(hbs) != 3 || hbs[0].At != "2026-01-21T12:10:00Z" || hbs[2].At != "2026-01-21T12:50:00Z" {
		t.Errorf("last hour of heartbeats: %+v", hbs)
	}
	h := hbs[0]
	if h.Status != "active" || *h.CPUUsage != 45.2 || *h.DiskUsage != 25.3 || *h.QueueSize != 5 || *h.ErrorCount != 2 ||
		*h.SuccessRate != 99.8 || *h.ActiveConnections != 12 || *h.AverageResponseTime != 250 || *h.HealthScore != 95 {
		t.Errorf("heartbeat %+v", h)
	}
	f.admin("GET", "/api/admin/neurons/n-1/heartbeats?since=2026-01-21T00:00:00Z&limit=2", nil, 200, &hbs)
	if len(hbs) != 2 || hbs[0].At != "2026-01-21T12:30:00Z" || hbs[1].At != "2026-01-21T12:50:00Z" {
		t.Errorf("the last 2 since midnight, oldest first: %+v", hbs)
	}
	var reps []reportView
	f.admin("GET", "/api/admin/neurons/n-1/analytics?since=2026-01-21T00:00:00Z", nil, 200, &reps)
	if len(reps) != 5 || reps[4].TotalRequests != 4 || string(reps[4].CustomMetrics) != `{"x":4}` ||
		!strings.Contains(string(reps[4].Breakdown), `"plugin":"p"`) {
		t.Errorf("reports %+v", reps)
	}
}

// Events are stored once per (neuron, id); an event without id (the
// reference client) is identified by its content; a report sent twice
// (same bytes) is stored once.
func TestEventDeduplication(t *testing.T) {
	f := newFed(t)
	a := f.register(regBody("a", ""))
	b := f.register(regBody("b", ""))
	ev := map[string]any{"id": "e-1", "type": "plugin_loaded", "timestamp": "2026-01-21T11:30:00Z", "plugin": "p", "version": "1.0.0",
		"data": map[string]any{"name": "p"}}
	if acc, dup := f.report(a, "a", ev); acc != 1 || dup != 0 {
		t.Errorf("first: %d accepted %d duplicates", acc, dup)
	}
	if acc, dup := f.report(a, "a", ev, with(ev, "id", "e-2")); acc != 1 || dup != 1 {
		t.Errorf("same id again: %d accepted %d duplicates", acc, dup)
	}
	if acc, _ := f.report(b, "b", ev); acc != 1 {
		t.Errorf("the same id from another neuron is another event: %d accepted", acc)
	}
	ref := map[string]any{"type": "batch_completed", "timestamp": "2025-01-21T11:30:00Z", "data": map[string]any{"batchId": "batch-789", "recordCount": 200}}
	if acc, dup := f.report(a, "a", ref, ref); acc != 1 || dup != 1 {
		t.Errorf("an id-less event twice: %d accepted %d duplicates", acc, dup)
	}
	if acc, _ := f.report(a, "a", with(ref, "data.recordCount", 201)); acc != 1 {
		t.Error("an id-less event with other content was taken for a duplicate")
	}
	body := `{"neuronId": "a", "metrics": {"totalRequests": 7}, "events": [{"id": "e-9", "type": "t"}]}`
	var first, again struct{ Events, Duplicates int }
	f.must("POST", "/api/analytics/report", a, body, 200, &first)
	f.must("POST", "/api/analytics/report", a, body, 200, &again)
	if first.Events != 1 || again.Events != 0 || again.Duplicates != 1 {
		t.Errorf("the same report twice: %+v then %+v", first, again)
	}
	var reps []reportView
	f.admin("GET", "/api/admin/neurons/a/analytics", nil, 200, &reps)
	if n := len(reps); n != 5 {
		t.Errorf("%d reports of a stored, want 5 (the retried one once)", n)
	}
	var evs []eventView
	f.admin("GET", "/api/admin/neurons/a/events", nil, 200, &evs)
	if len(evs) != 5 || evs[0].ID != "e-9" {
		t.Fatalf("events of a, newest first: %+v", evs)
	}
	for _, e := range evs {
		if e.Type == "batch_completed" && (!strings.HasPrefix(e.ID, "sha256:") || e.Timestamp != "2025-01-21T11:30:00Z") {
			t.Errorf("id-less event stored as %+v", e)
		}
	}
	f.admin("GET", "/api/admin/neurons/a/events?type=plugin_loaded", nil, 200, &evs)
	if len(evs) != 2 || evs[1].Plugin != "p" || evs[1].Version != "1.0.0" || string(evs[1].Data) != `{"name":"p"}` {
		t.Errorf("plugin_loaded events %+v", evs)
	}
	f.admin("GET", "/api/admin/neurons/a/events?limit=1", nil, 200, &evs)
	if len(evs) != 1 {
		t.Errorf("limit=1 gave %d", len(evs))
	}
}

func TestRetention(t *testing.T) {
	f := newFed(t, func(o *Options) { o.Retention = time.Hour })
	token := f.register(regBody("n-1", ""))
	f.beat(token, "active", "")
	f.report(token, "n-1", map[string]any{"id": "old", "type": "t"})
	f.admin("POST", "/api/admin/configs", `{"target": "fleet", "config": {"batchSize": 1}}`, 201, nil)
	f.clock.Add(61 * time.Minute)
	token = f.register(regBody("n-1", "")) // the first registration is now history
	f.beat(token, "active", "")
	f.report(token, "n-1", map[string]any{"id": "new", "type": "t"})

	p, _, err := f.s.prune(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if p.Heartbeats != 1 || p.Reports != 1 || p.Events != 1 || p.Registrations != 1 {
		t.Errorf("pruned %+v, want one of each", p)
	}
	since := "?since=2000-01-01T00:00:00Z"
	var hbs []heartbeatView
	f.admin("GET", "/api/admin/neurons/n-1/heartbeats"+since, nil, 200, &hbs)
	var evs []eventView
	f.admin("GET", "/api/admin/neurons/n-1/events", nil, 200, &evs)
	if len(hbs) != 1 || len(evs) != 1 || evs[0].ID != "new" {
		t.Errorf("kept %d heartbeats, events %+v", len(hbs), evs)
	}
	var cs []configView
	f.admin("GET", "/api/admin/configs", nil, 200, &cs)
	if len(cs) != 1 || f.neuron("n-1").Status != "active" {
		t.Error("retention deleted state, not only telemetry")
	}
	if !strings.Contains(f.logs.String(), "old telemetry deleted") {
		t.Error("pruning is not logged")
	}
}
