package devfed

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
)

// deliveryOf returns the delivery to neuron among ds.
func deliveryOf(t *testing.T, ds []deliveryView, neuron string) deliveryView {
	t.Helper()
	for _, d := range ds {
		if d.NeuronID == neuron {
			return d
		}
	}
	t.Fatalf("no delivery to %s in %+v", neuron, ds)
	return deliveryView{}
}

// deadURL is a loopback address nothing listens on.
func deadURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestPushConfigs(t *testing.T) {
	f := newFed(t)
	nrn := newFakeNeuron(t)
	token := f.register(regBody("n-1", nrn.URL()))
	f.beat(token, "active", "")

	var c configView
	f.admin("POST", "/api/admin/configs", `{"target": "fleet", "config": {"batchSize": 500, "colour": "blue", "big": 9007199254740993}}`, 201, &c)
	if c.Rev != 1 || c.Version != "fed-1" || c.Target != "fleet" || c.CreatedAt == "" {
		t.Errorf("config %+v", c)
	}
	if d := deliveryOf(t, c.Deliveries, "n-1"); d.Status != "applied" {
		t.Errorf("delivery %+v, want applied", d)
	}
	p := nrn.last(t)
	if p.Path != "/api/neuron/update-config" || p.Auth != "Bearer "+token {
		t.Errorf("push to %s with %q", p.Path, p.Auth)
	}
	if !strings.Contains(string(p.Raw), `"big":9007199254740993`) || p.Update["version"] != "fed-1" {
		t.Errorf("pushed %s", p.Raw)
	}

	// The neuron's own config wins per key over the fleet's.
	f.admin("POST", "/api/admin/configs", map[string]any{"target": "n-1", "config": map[string]any{"batchSize": 10, "maxRetries": 3}}, 201, nil)
	f.admin("POST", "/api/admin/configs", `{"target": "fleet", "config": {"batchSize": 700, "enableDebugMode": true}}`, 201, nil)
	got := nrn.last(t).Update
	want := `{"config":{"batchSize":10,"enableDebugMode":true,"maxRetries":3},"version":"fed-3"}`
	if raw, _ := json.Marshal(got); string(raw) != want {
		t.Errorf("effective update %s, want %s", raw, want)
	}
	if poll := f.poll(token); poll != want {
		t.Errorf("poll %s, want %s", poll, want)
	}
	if d := f.neuron("n-1"); d.EffectiveUpdate == nil {
		t.Error("the neuron's detail has no effective update")
	}

	var history []configView
	f.admin("GET", "/api/admin/configs?target=fleet", nil, 200, &history)
	if len(history) != 2 || history[0].Rev != 3 || history[1].Rev != 1 || len(history[1].Deliveries) != 1 {
		t.Errorf("fleet history %+v", history)
	}
	f.admin("GET", "/api/admin/configs", nil, 200, &history)
	if len(history) != 3 {
		t.Errorf("%d configs in all, want 3", len(history))
	}
	// A heartbeat says the neuron runs fed-3.
	f.beat(token, "active", "fed-3")
	if d := f.neuron("n-1"); d.ConfigVersion != "fed-3" {
		t.Errorf("configVersion %q", d.ConfigVersion)
	}
	if !strings.Contains(f.logs.String(), "update pushed") {
		t.Error("pushes are not logged")
	}
}

func TestPushAnswers(t *testing.T) {
	f := newFed(t)
	nrn := newFakeNeuron(t)
	token := f.register(regBody("n-1", nrn.URL()))
	f.beat(token, "active", "")

	cases := []struct {
		name   string
		answer func(map[string]any) (int, any)
		status string
		detail string
	}{
		{"rejected", rejectAll("config.colour: unknown key; declare it"), "rejected", "config.colour: unknown key"},
		// The neuron's poll applied the version before the push came: it
		// runs it, so the delivery is applied.
		{"unchanged naming the version", func(u map[string]any) (int, any) {
			return 200, map[string]any{"success": true, "data": map[string]any{"applied": false, "unchanged": true, "configVersion": u["version"]}}
		}, "applied", "runs this version already"},
		{"unchanged naming no version", func(map[string]any) (int, any) {
			return 200, map[string]any{"success": true, "data": map[string]any{"applied": false, "unchanged": true}}
		}, "unchanged", "answered unchanged"},
		{"server error", func(map[string]any) (int, any) { return 503, map[string]any{"error": "draining", "code": "draining"} }, "pending", "HTTP 503"},
		{"200 not from a neuron", func(map[string]any) (int, any) { return 200, "ok" }, "pending", "not JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nrn.setAnswer(c.answer)
			var cv configView
			f.admin("POST", "/api/admin/configs", `{"target": "n-1", "config": {"colour": "red"}}`, 201, &cv)
			d := deliveryOf(t, cv.Deliveries, "n-1")
			if d.Status != c.status || !strings.Contains(d.Detail, c.detail) {
				t.Errorf("delivery %+v, want %s saying %q", d, c.status, c.detail)
			}
		})
	}
}

// A slow neuron is given PushTimeout; the change stays pending.
func TestPushTimeout(t *testing.T) {
	f := newFed(t, func(o *Options) { o.PushTimeout = 50 * time.Millisecond })
	nrn := newFakeNeuron(t)
	token := f.register(regBody("n-1", nrn.URL()))
	f.beat(token, "active", "")
	release := make(chan struct{})
	defer close(release)
	nrn.setAnswer(func(u map[string]any) (int, any) { <-release; return applyAll(u) })
	var cv configView
	f.admin("POST", "/api/admin/configs", `{"target": "n-1", "config": {"colour": "green"}}`, 201, &cv)
	if d := deliveryOf(t, cv.Deliveries, "n-1"); d.Status != "pending" || !strings.Contains(d.Detail, "deadline exceeded") {
		t.Errorf("delivery %+v, want pending after a timeout", d)
	}
}

// A neuron the federation cannot reach gets the change at its poll; the
// heartbeat that says it runs it resolves the delivery.
func TestUnreachableServedByPoll(t *testing.T) {
	f := newFed(t)
	dead := f.register(regBody("dead", deadURL(t)))
	silent := f.register(regBody("silent", ""))
	f.beat(dead, "active", "")
	f.beat(silent, "active", "")
	nrn := newFakeNeuron(t)
	gone := f.register(regBody("gone", nrn.URL()))
	f.beat(gone, "active", "")
	f.clock.Add(60 * time.Second) // every one offline
	f.beat(dead, "active", "")
	f.beat(silent, "active", "")

	var c configView
	f.admin("POST", "/api/admin/configs", `{"target": "fleet", "config": {"batchSize": 5}}`, 201, &c)
	for id, want := range map[string]string{"dead": "push failed", "silent": "no baseUrl", "gone": "offline"} {
		if d := deliveryOf(t, c.Deliveries, id); d.Status != "pending" || !strings.Contains(d.Detail, want) {
			t.Errorf("delivery to %s %+v, want pending saying %q", id, d, want)
		}
	}
	if n := len(nrn.received()); n != 0 {
		t.Errorf("an offline neuron was pushed to %d times", n)
	}
	want := `{"config":{"batchSize":5},"version":"fed-1"}`
	if got := f.poll(dead); got != want {
		t.Errorf("poll %s, want %s", got, want)
	}
	f.beat(dead, "active", "fed-1")
	var all []configView
	f.admin("GET", "/api/admin/configs", nil, 200, &all)
	if d := deliveryOf(t, all[0].Deliveries, "dead"); d.Status != "applied" || !strings.Contains(d.Detail, "heartbeat") {
		t.Errorf("after the heartbeat: %+v", d)
	}
	if d := deliveryOf(t, all[0].Deliveries, "silent"); d.Status != "pending" {
		t.Errorf("silent: %+v", d)
	}
}

func TestCommandOutcomesFromPush(t *testing.T) {
	f := newFed(t)
	a, b := newFakeNeuron(t), newFakeNeuron(t)
	ta := f.register(regBody("a", a.URL()))
	tb := f.register(regBody("b", b.URL()))
	f.beat(ta, "active", "")
	f.beat(tb, "active", "")
	b.setAnswer(func(u map[string]any) (int, any) {
		c := u["command"].(map[string]any)
		return 200, map[string]any{"success": true, "data": map[string]any{"applied": false,
			"command": map[string]any{"id": c["id"], "type": c["type"], "ok": false, "error": "no worker w-9"}}}
	})
	var cmds []commandView
	f.admin("POST", "/api/admin/commands", `{"target": "fleet", "type": "restart_worker", "data": {"workerId": "all", "graceful": true}}`, 201, &cmds)
	if len(cmds) != 2 {
		t.Fatalf("%d commands, want one per neuron", len(cmds))
	}
	byNeuron := map[string]commandView{}
	for _, c := range cmds {
		byNeuron[c.NeuronID] = c
		if !strings.HasPrefix(c.ID, "cmd-") || len(c.ID) != len("cmd-")+12 || c.Type != "restart_worker" {
			t.Errorf("command %+v", c)
		}
	}
	if c := byNeuron["a"]; c.Status != "succeeded" || !strings.Contains(string(c.Outcome), `"restarted":2`) {
		t.Errorf("a: %+v outcome %s", c, c.Outcome)
	}
	if c := byNeuron["b"]; c.Status != "failed" || !strings.Contains(string(c.Outcome), "no worker") {
		t.Errorf("b: %+v outcome %s", c, c.Outcome)
	}
	pushed := a.last(t).Update["command"].(map[string]any)
	if pushed["id"] != byNeuron["a"].ID || pushed["data"].(map[string]any)["workerId"] != "all" {
		t.Errorf("pushed command %v", pushed)
	}
	// A neuron refusing the update rejects its command, with the reasons.
	a.setAnswer(rejectAll("command cmd-x: unknown type"))
	f.admin("POST", "/api/admin/commands", `{"target": "a", "type": "drain"}`, 201, &cmds)
	if cmds[0].Status != "rejected" || !strings.Contains(string(cmds[0].Outcome), "unknown type") {
		t.Errorf("rejected command %+v %s", cmds[0], cmds[0].Outcome)
	}
	var list []commandView
	f.admin("GET", "/api/admin/commands?neuron=a", nil, 200, &list)
	if len(list) != 2 || list[0].ID != cmds[0].ID {
		t.Errorf("commands of a, newest first: %+v", list)
	}
	f.admin("GET", "/api/admin/commands?limit=1", nil, 200, &list)
	if len(list) != 1 {
		t.Errorf("limit=1 gave %d", len(list))
	}
}

// Commands wait their turn: one per update, oldest first; each push that
// resolves one pushes the next.
func TestCommandsQueue(t *testing.T) {
	f := newFed(t)
	nrn := newFakeNeuron(t)
	token := f.register(regBody("n-1", nrn.URL()))
	f.beat(token, "active", "")
	nrn.setAnswer(func(map[string]any) (int, any) { return 503, map[string]any{"error": "busy"} })
	var first, second []commandView
	f.admin("POST", "/api/admin/commands", `{"target": "n-1", "type": "drain"}`, 201, &first)
	f.admin("POST", "/api/admin/commands", `{"target": "n-1", "type": "resume"}`, 201, &second)
	if first[0].Status != "pending" || second[0].Status != "pending" {
		t.Fatalf("after failed pushes: %s, %s", first[0].Status, second[0].Status)
	}
	for _, p := range nrn.received() {
		if p.Update["command"].(map[string]any)["id"] != first[0].ID {
			t.Errorf("a push carried %v before the oldest command was done", p.Update["command"])
		}
	}
	nrn.setAnswer(applyAll)
	f.admin("POST", "/api/admin/configs", `{"target": "n-1", "config": {"batchSize": 1}}`, 201, nil)
	testutil.Eventually(t, 10*time.Second, "both commands to succeed", func() bool {
		var cs []commandView
		f.admin("GET", "/api/admin/commands?neuron=n-1", nil, 200, &cs)
		return len(cs) == 2 && cs[0].Status == "succeeded" && cs[1].Status == "succeeded"
	})
	if got := f.poll(token); strings.Contains(got, "command") {
		t.Errorf("poll after both ran: %s", got)
	}
}

// Without pushes, a polled command is delivered, and its command_executed
// event resolves it; config_applied and config_rejected events resolve
// config deliveries.
func TestOutcomesFromEvents(t *testing.T) {
	f := newFed(t)
	token := f.register(regBody("n-1", ""))
	f.beat(token, "active", "")
	var cmds []commandView
	f.admin("POST", "/api/admin/commands", `{"target": "n-1", "type": "flush_analytics"}`, 201, &cmds)
	id := cmds[0].ID
	poll := f.poll(token)
	if !strings.Contains(poll, id) || strings.Contains(poll, "version") {
		t.Errorf("poll %s, want the command alone", poll)
	}
	if d := f.neuron("n-1"); d.Commands[0].Status != "delivered" {
		t.Errorf("after the poll: %s, want delivered", d.Commands[0].Status)
	}
	f.report(token, "n-1", map[string]any{"id": "ev-1", "type": "command_executed", "timestamp": "2026-01-21T11:30:01Z",
		"data": map[string]any{"id": id, "type": "flush_analytics", "ok": true, "durationMs": 1.5}})
	if d := f.neuron("n-1"); d.Commands[0].Status != "succeeded" || !strings.Contains(string(d.Commands[0].Outcome), "durationMs") {
		t.Errorf("after the event: %+v", d.Commands[0])
	}
	if got := f.poll(token); got != "{}" {
		t.Errorf("poll %s, want {}", got)
	}

	// A command-only update refused: its config_rejected event has no
	// version.
	f.admin("POST", "/api/admin/commands", `{"target": "n-1", "type": "set_log_level", "data": {"level": "loud"}}`, 201, &cmds)
	f.poll(token)
	f.report(token, "n-1", map[string]any{"id": "ev-2", "type": "config_rejected",
		"data": map[string]any{"version": "", "source": "poll", "reasons": []any{`data.level "loud"`}}})
	if d := f.neuron("n-1"); d.Commands[0].Status != "rejected" {
		t.Errorf("refused command: %+v", d.Commands[0])
	}

	var c configView
	f.admin("POST", "/api/admin/configs", `{"target": "n-1", "config": {"colour": "red"}}`, 201, &c)
	f.poll(token)
	f.report(token, "n-1", map[string]any{"id": "ev-3", "type": "config_rejected",
		"data": map[string]any{"version": c.Version, "source": "poll", "reasons": []any{"config.colour: unknown key"}}})
	f.admin("POST", "/api/admin/configs", `{"target": "n-1", "config": {"batchSize": 3}}`, 201, &c)
	f.report(token, "n-1", map[string]any{"id": "ev-4", "type": "config_applied",
		"data": map[string]any{"version": c.Version, "source": "poll"}})
	var history []configView
	f.admin("GET", "/api/admin/configs?target=n-1", nil, 200, &history)
	if d := deliveryOf(t, history[0].Deliveries, "n-1"); d.Status != "applied" || !strings.Contains(d.Detail, "config_applied") {
		t.Errorf("applied config: %+v", d)
	}
	if d := deliveryOf(t, history[1].Deliveries, "n-1"); d.Status != "rejected" || !strings.Contains(d.Detail, "unknown key") {
		t.Errorf("rejected config: %+v", d)
	}
}

// Every command served carries issuedAt, its creation time by the
// federation's clock (UTC, with the fraction), in a poll and in a push.
func TestCommandIssuedAt(t *testing.T) {
	f, nrn, token := activeNeuron(t)
	f.clock.Add(1234 * time.Millisecond)
	var cmds []commandView
	f.admin("POST", "/api/admin/commands", `{"target": "n-1", "type": "drain"}`, http.StatusCreated, &cmds)
	want := f.clock.Now()
	if cmds[0].CreatedAt != "2026-01-21T11:30:01.234Z" {
		t.Fatalf("createdAt %s", cmds[0].CreatedAt)
	}
	check := func(how string, raw []byte) {
		t.Helper()
		var u struct {
			Command struct {
				ID       string `json:"id"`
				IssuedAt string `json:"issuedAt"`
			} `json:"command"`
		}
		if err := json.Unmarshal(raw, &u); err != nil {
			t.Fatalf("%s: %s: %v", how, raw, err)
		}
		at, err := time.Parse(time.RFC3339Nano, u.Command.IssuedAt)
		if u.Command.ID != cmds[0].ID || err != nil || !at.Equal(want) || u.Command.IssuedAt != cmds[0].CreatedAt {
			t.Errorf("%s: command %s issuedAt %q (%v), want %s", how, u.Command.ID, u.Command.IssuedAt, err, cmds[0].CreatedAt)
		}
	}
	check("push", nrn.last(t).Raw)
	// Served again to a poll (the push answered, so send a second one and
	// make the push fail to see it polled).
	nrn.setAnswer(func(map[string]any) (int, any) { return http.StatusServiceUnavailable, map[string]any{"error": "busy"} })
	f.clock.Add(time.Second)
	f.admin("POST", "/api/admin/commands", `{"target": "n-1", "type": "resume"}`, http.StatusCreated, &cmds)
	want = f.clock.Now()
	check("poll", []byte(f.poll(token)))
}
