package devfed

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// executed is a command_executed event of command id, as a neuron's
// control package reports it.
func executed(event, id string) map[string]any {
	return map[string]any{"id": event, "type": "command_executed", "timestamp": "2026-01-21T11:30:00Z",
		"data": map[string]any{"id": id, "type": "flush_analytics", "ok": true}}
}

// command returns the command id of neuron's commands, failing the test
// when there is none.
func (f *fed) command(neuron, id string) commandView {
	f.t.Helper()
	var list []commandView
	f.admin("GET", "/api/admin/commands?neuron="+neuron, nil, http.StatusOK, &list)
	for _, c := range list {
		if c.ID == id {
			return c
		}
	}
	f.t.Fatalf("no command %s of %s in %+v", id, neuron, list)
	return commandView{}
}

// issue sends a command of type typ to neuron and returns its id.
func (f *fed) issue(neuron, typ string) string {
	f.t.Helper()
	var cmds []commandView
	f.admin("POST", "/api/admin/commands", `{"target": "`+neuron+`", "type": "`+typ+`"}`, http.StatusCreated, &cmds)
	return cmds[0].ID
}

// The attack review's forged outcome: instance A is served a command and
// goes offline, B takes the id over and reports A's command as
// succeeded. B's outcome is refused (the command stays delivered to A,
// nothing recorded); commands never served to A are B's to run, and
// their outcomes are accepted.
func TestOutcomeFromAnotherInstanceRefused(t *testing.T) {
	f := newFed(t)
	a := f.register(regBody("n-1", ""))
	f.beat(a, "active", "")
	lineageA := f.neuron("n-1").Lineage
	served := f.issue("n-1", "flush_analytics")
	if got := f.poll(a); !strings.Contains(got, served) {
		t.Fatalf("A's poll %s, want command %s", got, served)
	}
	if c := f.command("n-1", served); c.Status != "delivered" || c.SentTo != lineageA || lineageA == "" {
		t.Fatalf("after A's poll: %+v, want delivered to A's lineage %q", c, lineageA)
	}
	waiting := f.issue("n-1", "drain") // behind the first: never served to A

	f.clock.Add(51 * time.Second) // A is offline
	b := f.register(regBody("n-1", ""))
	f.beat(b, "active", "")
	lineageB := f.neuron("n-1").Lineage
	if lineageB == lineageA {
		t.Fatalf("an offline takeover kept the lineage %q", lineageA)
	}
	got := f.poll(b)
	if strings.Contains(got, served) || !strings.Contains(got, waiting) {
		t.Errorf("B's poll %s: want %s (never served) and not %s (delivered to A)", got, waiting, served)
	}

	// B's forged outcome of A's command, and its refusal of a command-only
	// update (which rejects the commands served in it): neither touches A's
	// command.
	if accepted, _ := f.report(b, "n-1", executed("e-1", served)); accepted != 1 {
		t.Errorf("the event was not stored (%d): the report is answered as before", accepted)
	}
	f.report(b, "n-1", map[string]any{"id": "e-2", "type": "config_rejected",
		"data": map[string]any{"version": "", "source": "poll", "reasons": []any{"forged"}}})
	if c := f.command("n-1", served); c.Status != "delivered" || string(c.Outcome) != "null" || c.SentTo != lineageA {
		t.Errorf("A's command after B's reports: %+v %s, want delivered to A, no outcome", c, c.Outcome)
	}
	if !strings.Contains(f.logs.String(), "command outcome refused") {
		t.Error("the refused outcome is not logged")
	}
	if v := sample(t, f.scrape(), "neuron_federation_foreign_outcomes_total"); v != 1 {
		t.Errorf("neuron_federation_foreign_outcomes_total %v, want 1", v)
	}
	// The command-only refusal rejected B's own command, served in it.
	if c := f.command("n-1", waiting); c.Status != "rejected" || c.SentTo != lineageB {
		t.Errorf("B's command after B refused it: %+v", c)
	}

	// B's outcome of a command served to B is accepted.
	mine := f.issue("n-1", "resume")
	if got := f.poll(b); !strings.Contains(got, mine) {
		t.Fatalf("B's poll %s, want %s", got, mine)
	}
	f.report(b, "n-1", executed("e-3", mine))
	if c := f.command("n-1", mine); c.Status != "succeeded" {
		t.Errorf("B's own command: %+v, want succeeded", c)
	}

	// A back: its token was revoked, and once it takes the id again (B
	// offline) it is a new lineage: the federation cannot tell it from any
	// other process, so A's late outcome is refused too.
	if status, _ := f.call("POST", "/api/analytics/report", a, map[string]any{"neuronId": "n-1",
		"metrics": map[string]any{}, "events": []any{executed("e-4", served)}}); status != http.StatusUnauthorized {
		t.Errorf("A's revoked token: %d, want 401", status)
	}
	f.clock.Add(51 * time.Second)
	a = f.reregister(regBody("n-1", ""), a)
	if l := f.neuron("n-1").Lineage; l == lineageA || l == lineageB {
		t.Errorf("A back after B: lineage %q, want a new one", l)
	}
	f.report(a, "n-1", executed("e-5", served))
	if c := f.command("n-1", served); c.Status != "delivered" {
		t.Errorf("A's command after A came back: %+v, want still delivered", c)
	}
}

// The same instance keeps its lineage across registrations that present
// the id's current token: registering again while live, and a restart
// with its kept token after it went offline or said stopping. Its
// outcomes of commands served before are accepted.
func TestLineageKeptWithToken(t *testing.T) {
	f := newFed(t)
	token := f.register(regBody("n-1", ""))
	f.beat(token, "active", "")
	lineage := f.neuron("n-1").Lineage
	for i, step := range []struct {
		name   string
		before func()
	}{
		{"live", func() {}},
		{"offline", func() { f.clock.Add(51 * time.Second) }},
		{"stopping", func() { f.beat(token, "stopping", "") }},
	} {
		id := f.issue("n-1", "flush_analytics")
		if got := f.poll(token); !strings.Contains(got, id) {
			t.Fatalf("%s: poll %s, want %s", step.name, got, id)
		}
		step.before()
		token = f.reregister(regBody("n-1", ""), token)
		f.beat(token, "active", "")
		if l := f.neuron("n-1").Lineage; l != lineage {
			t.Errorf("%s: lineage %q after a registration with the token, want %q", step.name, l, lineage)
		}
		// Served again to the same instance until its outcome arrives.
		if got := f.poll(token); !strings.Contains(got, id) {
			t.Errorf("%s: poll after registering again %s, want %s again", step.name, got, id)
		}
		f.report(token, "n-1", executed("e-"+step.name, id))
		if c := f.command("n-1", id); c.Status != "succeeded" {
			t.Errorf("%s: %+v, want succeeded", step.name, c)
		}
		if strings.Contains(f.logs.String(), "command outcome refused") {
			t.Fatalf("step %d: an outcome of the same instance was refused:\n%s", i, f.logs.String())
		}
	}
}

// A command whose push failed was never delivered: after an offline
// takeover the new instance gets it, and its push answer resolves it.
func TestFailedPushServedToNewInstance(t *testing.T) {
	f := newFed(t)
	a := f.register(regBody("n-1", deadURL(t)))
	f.beat(a, "active", "")
	id := f.issue("n-1", "flush_analytics")
	if c := f.command("n-1", id); c.Status != "pending" {
		t.Fatalf("after a failed push: %+v, want pending", c)
	}
	f.clock.Add(51 * time.Second)
	nrn := newFakeNeuron(t)
	b := f.register(regBody("n-1", nrn.URL()))
	f.beat(b, "active", "")
	f.admin("POST", "/api/admin/configs", `{"target": "n-1", "config": {"batchSize": 1}}`, http.StatusCreated, nil)
	pushed, _ := nrn.last(t).Update["command"].(map[string]any)
	if pushed["id"] != id {
		t.Errorf("pushed to B: %v, want command %s", nrn.last(t).Update, id)
	}
	if c := f.command("n-1", id); c.Status != "succeeded" || c.SentTo != f.neuron("n-1").Lineage {
		t.Errorf("after B's push answer: %+v, want succeeded, sent to B", c)
	}
}
