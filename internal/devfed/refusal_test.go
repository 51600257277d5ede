package devfed

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// A version a neuron refused is not served to it again: its polls and
// pushes carry only what else waits (a command), or nothing, until a newer
// revision exists. The delivery stays rejected with the neuron's reasons.
func TestRefusedVersionNotServedAgain(t *testing.T) {
	const reason = "config.colour: unknown key; declare it in the local config"
	cases := []struct {
		name string
		push bool // the neuron is pushed to and answers 422; else it polls and reports config_rejected
	}{
		{"push answered 422", true},
		{"config_rejected event", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFed(t)
			nrn := newFakeNeuron(t)
			url := ""
			if c.push {
				url = nrn.URL()
				nrn.setAnswer(rejectAll(reason))
			}
			token := f.register(regBody("n-1", url))
			f.beat(token, "active", "")
			f.admin("POST", "/api/admin/configs", `{"target": "n-1", "config": {"colour": "red"}}`, 201, nil)
			if !c.push {
				if got := f.poll(token); !strings.Contains(got, `"version":"fed-1"`) {
					t.Fatalf("first poll %s, want fed-1", got)
				}
				f.report(token, "n-1", map[string]any{"id": "ev-1", "type": "config_rejected",
					"data": map[string]any{"version": "fed-1", "source": "poll", "reasons": []any{reason}}})
			}
			for i := range 3 {
				if got := f.poll(token); got != "{}" {
					t.Errorf("poll %d after the refusal: %s, want {}", i, got)
				}
			}
			if d := f.neuron("n-1"); d.EffectiveUpdate != nil {
				t.Errorf("effective update after the refusal: %v, want none", d.EffectiveUpdate)
			}
			var history []configView
			f.admin("GET", "/api/admin/configs?target=n-1", nil, 200, &history)
			if d := deliveryOf(t, history[0].Deliveries, "n-1"); d.Status != "rejected" || !strings.Contains(d.Detail, "unknown key") {
				t.Errorf("delivery %+v, want rejected with the reason", d)
			}

			// A command goes alone; the refused config stays behind.
			nrn.setAnswer(applyAll)
			var cmds []commandView
			f.admin("POST", "/api/admin/commands", `{"target": "n-1", "type": "flush_analytics"}`, 201, &cmds)
			got := served(t, f, nrn, token, c.push)
			if !strings.Contains(got, cmds[0].ID) || strings.Contains(got, "config") || strings.Contains(got, "version") {
				t.Errorf("update with a command after the refusal: %s, want the command alone", got)
			}

			// A newer revision is served (rev 2 was the command).
			f.admin("POST", "/api/admin/configs", `{"target": "n-1", "config": {"batchSize": 3}}`, 201, nil)
			got = served(t, f, nrn, token, c.push)
			if !strings.Contains(got, `"config":{"batchSize":3}`) || !strings.Contains(got, `"version":"fed-3"`) {
				t.Errorf("update after a newer config: %s", got)
			}
		})
	}
}

// served is the update the neuron got last: pushed, or else polled now.
func served(t *testing.T, f *fed, nrn *fakeNeuron, token string, pushed bool) string {
	t.Helper()
	if pushed {
		return string(nrn.last(t).Raw)
	}
	return f.poll(token)
}

// A neuron registering again (a restart) is not served the version it
// refused once more: it would refuse it again, and a later change would
// carry it along. The change comes again as a new revision when sent
// again.
func TestRefusedVersionNotServedAfterRegistering(t *testing.T) {
	f := newFed(t)
	token := f.register(regBody("n-1", ""))
	f.admin("POST", "/api/admin/configs", `{"target": "fleet", "config": {"colour": "red"}}`, 201, nil)
	f.poll(token)
	f.report(token, "n-1", map[string]any{"id": "ev-1", "type": "config_rejected",
		"data": map[string]any{"version": "fed-1", "reasons": []any{"config.colour: unknown key"}}})
	if got := f.poll(token); got != "{}" {
		t.Fatalf("poll after the refusal: %s", got)
	}
	token = f.reregister(regBody("n-1", ""), token)
	if got := f.poll(token); got != "{}" {
		t.Errorf("poll after registering again: %s, want {}", got)
	}
	// A refusal of a version this federation never issued withholds nothing.
	f.report(token, "n-1", map[string]any{"id": "ev-2", "type": "config_rejected",
		"data": map[string]any{"version": "fed-99", "reasons": []any{"from another federation"}}})
	f.admin("POST", "/api/admin/configs", `{"target": "fleet", "config": {"colour": "blue"}}`, 201, nil)
	if got := f.poll(token); !strings.Contains(got, "fed-2") {
		t.Errorf("poll of a newer version: %s", got)
	}
}

// gatedAnswer answers pushes with answer once the test closes release,
// after handing each pushed update to arrived: the test acts while the
// push is in flight.
func gatedAnswer(arrived chan<- map[string]any, release <-chan struct{}, answer func(map[string]any) (int, any)) func(map[string]any) (int, any) {
	return func(u map[string]any) (int, any) {
		arrived <- u
		<-release
		return answer(u)
	}
}

// adminAsync sends an admin request in the background; the channel
// receives its status (0 when it failed to send).
func (f *fed) adminAsync(method, path, body string) <-chan int {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.opts.AdminToken)
	done := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	return done
}

// received waits for the push in flight.
func received(t *testing.T, arrived <-chan map[string]any) map[string]any {
	t.Helper()
	select {
	case u := <-arrived:
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no push reached the neuron")
		return nil
	}
}

// unchangedAnswer is a neuron's answer to an update whose version it runs
// already.
func unchangedAnswer(u map[string]any) (int, any) {
	return http.StatusOK, map[string]any{"success": true, "data": map[string]any{"applied": false, "unchanged": true,
		"configVersion": u["version"]}}
}

// The neuron's poll applies a config while the push of it is on its way:
// the push answers unchanged, and the delivery ends applied.
func TestPollFirstRace(t *testing.T) {
	f, nrn, token := activeNeuron(t)
	arrived, release := make(chan map[string]any, 1), make(chan struct{})
	nrn.setAnswer(gatedAnswer(arrived, release, unchangedAnswer))
	done := f.adminAsync("POST", "/api/admin/configs", `{"target": "n-1", "config": {"batchSize": 7}}`)
	received(t, arrived)
	if got := f.poll(token); !strings.Contains(got, `"version":"fed-1"`) {
		t.Fatalf("poll %s, want fed-1", got)
	}
	close(release)
	if status := <-done; status != http.StatusCreated {
		t.Fatalf("POST /api/admin/configs: %d", status)
	}
	var history []configView
	f.admin("GET", "/api/admin/configs?target=n-1", nil, 200, &history)
	if d := deliveryOf(t, history[0].Deliveries, "n-1"); d.Status != "applied" || !strings.Contains(d.Detail, "already") {
		t.Errorf("delivery %+v, want applied", d)
	}
}

// A push answered unchanged without the version is confirmed applied by
// the neuron saying it runs that version.
func TestAcknowledgementUpgradesUnchanged(t *testing.T) {
	cases := []struct {
		name   string
		detail string
		ack    func(f *fed, token string)
	}{
		{"heartbeat", "heartbeat", func(f *fed, token string) { f.beat(token, "active", "fed-1") }},
		{"config_applied event", "config_applied", func(f *fed, token string) {
			f.report(token, "n-1", map[string]any{"id": "ev-1", "type": "config_applied",
				"data": map[string]any{"version": "fed-1", "source": "poll"}})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, nrn, token := activeNeuron(t)
			nrn.setAnswer(func(map[string]any) (int, any) {
				return 200, map[string]any{"success": true, "data": map[string]any{"applied": false, "unchanged": true}}
			})
			var cv configView
			f.admin("POST", "/api/admin/configs", `{"target": "n-1", "config": {"batchSize": 7}}`, 201, &cv)
			if d := deliveryOf(t, cv.Deliveries, "n-1"); d.Status != "unchanged" {
				t.Fatalf("delivery %+v, want unchanged", d)
			}
			c.ack(f, token)
			var history []configView
			f.admin("GET", "/api/admin/configs?target=n-1", nil, 200, &history)
			if d := deliveryOf(t, history[0].Deliveries, "n-1"); d.Status != "applied" || !strings.Contains(d.Detail, c.detail) {
				t.Errorf("delivery %+v, want applied by the %s", d, c.detail)
			}
		})
	}
}

// A neuron that ran a command from its poll answers its push with the
// first run's outcome marked repeated: the outcome kept is the run's,
// without the marker, and never replaces one recorded before.
func TestRepeatedCommandOutcome(t *testing.T) {
	ran := map[string]any{"type": "flush_analytics", "ok": true, "result": map[string]any{"flushed": 3}, "durationMs": 1.5}
	outcome := func(id string, repeated bool) map[string]any {
		o := map[string]any{"id": id}
		for k, v := range ran {
			o[k] = v
		}
		if repeated {
			o["repeated"] = true
		}
		return o
	}
	repeatedAnswer := func(u map[string]any) (int, any) {
		id := u["command"].(map[string]any)["id"].(string)
		return http.StatusOK, map[string]any{"success": true, "data": map[string]any{"applied": false,
			"command": outcome(id, true)}}
	}
	cases := []struct {
		name       string
		eventFirst bool // the command_executed event arrives while the push is in flight
	}{
		{"push answer first", false},
		{"event first", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, nrn, token := activeNeuron(t)
			arrived, release := make(chan map[string]any, 1), make(chan struct{})
			nrn.setAnswer(gatedAnswer(arrived, release, repeatedAnswer))
			done := f.adminAsync("POST", "/api/admin/commands", `{"target": "n-1", "type": "flush_analytics"}`)
			u := received(t, arrived)
			id := u["command"].(map[string]any)["id"].(string)
			event := map[string]any{"id": "ev-1", "type": "command_executed", "data": outcome(id, false)}
			if c.eventFirst {
				if got := f.poll(token); !strings.Contains(got, id) {
					t.Fatalf("poll %s, want the command", got)
				}
				f.report(token, "n-1", event)
			}
			close(release)
			if status := <-done; status != http.StatusCreated {
				t.Fatalf("POST /api/admin/commands: %d", status)
			}
			if !c.eventFirst {
				f.report(token, "n-1", event)
			}
			cmd := f.neuron("n-1").Commands[0]
			if cmd.Status != "succeeded" || strings.Contains(string(cmd.Outcome), "repeated") ||
				!strings.Contains(string(cmd.Outcome), `"flushed":3`) {
				t.Errorf("command %s %s, want succeeded with the run's outcome, no repeat marker", cmd.Status, cmd.Outcome)
			}
		})
	}
}

// refuseKey is a neuron that refuses any config with key, and applies the
// rest.
func refuseKey(key string) func(map[string]any) (int, any) {
	return func(u map[string]any) (int, any) {
		if cfg, _ := u["config"].(map[string]any); cfg != nil && cfg[key] != nil {
			return rejectAll("config." + key + ": unknown key")(u)
		}
		return applyAll(u)
	}
}

// A refused change does not poison later ones: a fleet key the neuron
// refused is left out of what it is served next, so a change of other
// keys (its own config, the fleet's experiment) is applied, with the
// fleet config it last accepted. Another neuron that takes the key gets
// it.
func TestRefusedChangeLeftOut(t *testing.T) {
	f, nrn, token := activeNeuron(t)
	other := newFakeNeuron(t)
	token2 := f.register(regBody("n-2", other.URL()))
	f.beat(token2, "active", "")
	f.admin("POST", "/api/admin/configs", `{"target": "fleet", "config": {"batchSize": 5}}`, 201, nil)
	nrn.setAnswer(refuseKey("colour"))
	var cv configView
	f.admin("POST", "/api/admin/configs", `{"target": "fleet", "config": {"batchSize": 5, "colour": "red"}}`, 201, &cv)
	if d := deliveryOf(t, cv.Deliveries, "n-1"); d.Status != "rejected" {
		t.Fatalf("n-1's delivery %+v, want rejected", d)
	}
	if d := deliveryOf(t, cv.Deliveries, "n-2"); d.Status != "applied" {
		t.Errorf("n-2's delivery %+v, want applied: it takes the key", d)
	}
	if got := f.poll(token); !strings.Contains(got, `"version":"fed-1"`) || strings.Contains(got, "colour") {
		t.Errorf("n-1 polls %s, want the fleet config it accepted (fed-1), without colour", got)
	}

	f.admin("POST", "/api/admin/configs", `{"target": "n-1", "config": {"maxRetries": 2}}`, 201, &cv)
	if d := deliveryOf(t, cv.Deliveries, "n-1"); d.Status != "applied" {
		t.Errorf("a later change of other keys: %+v, want applied", d)
	}
	if got := string(nrn.last(t).Raw); got != `{"config":{"batchSize":5,"maxRetries":2},"version":"fed-3"}` {
		t.Errorf("pushed %s, want the accepted fleet config with n-1's own, without colour", got)
	}
	if got := f.poll(token2); !strings.Contains(got, `"colour":"red"`) {
		t.Errorf("n-2 polls %s, want the fleet config with colour", got)
	}
}

// The answer to a change says at once how it fared on each neuron:
// refused (naming the neurons and why) wins over queued (a neuron it
// could not reach gets it at its next poll), which wins over applied.
func TestChangeOutcome(t *testing.T) {
	f, nrn, _ := activeNeuron(t)
	nrn.setAnswer(refuseKey("colour"))
	taker := newFakeNeuron(t)
	f.beat(f.register(regBody("n-2", taker.URL())), "active", "")
	gone := newFakeNeuron(t)
	goneURL := gone.URL()
	gone.srv.Close()
	f.beat(f.register(regBody("n-3", goneURL)), "active", "")

	var cv configView
	f.admin("POST", "/api/admin/configs", `{"target": "fleet", "config": {"colour": "red"}}`, 201, &cv)
	if cv.Outcome != "refused" || len(cv.Refused) != 1 || cv.Refused[0].NeuronID != "n-1" ||
		!strings.Contains(cv.Refused[0].Reason, "config.colour: unknown key") {
		t.Errorf("outcome %q, refused %+v: want refused by n-1 with its reason", cv.Outcome, cv.Refused)
	}
	if d := deliveryOf(t, cv.Deliveries, "n-3"); d.Status != "pending" || !strings.Contains(d.Detail, "push failed") {
		t.Errorf("the unreachable neuron's delivery %+v, want pending with the push's failure", d)
	}
	f.admin("POST", "/api/admin/configs", `{"target": "fleet", "config": {"batchSize": 4}}`, 201, &cv)
	if cv.Outcome != "queued" || len(cv.Refused) != 0 {
		t.Errorf("outcome %q, refused %+v: want queued (n-3 unreachable)", cv.Outcome, cv.Refused)
	}
	f.admin("POST", "/api/admin/configs", `{"target": "n-2", "config": {"batchSize": 5}}`, 201, &cv)
	if cv.Outcome != "applied" {
		t.Errorf("outcome %q, want applied", cv.Outcome)
	}
}
