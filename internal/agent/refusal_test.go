package agent_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
)

// change is the admin API's answer to a config.
type change struct {
	Version    string     `json:"version"`
	Deliveries []delivery `json:"deliveries"`
	Outcome    string     `json:"outcome"`
	Refused    []struct {
		NeuronID string `json:"neuronId"`
		Reason   string `json:"reason"`
	} `json:"refused"`
}

// A fleet config the neuron refuses (a key it does not know) is answered
// as refused, naming the neuron and why; it does not poison what comes
// next (the neuron's own config is applied without it); and a neuron that
// restarts and registers again is not served it again, nor reports it
// again.
func TestDevFederation_RefusedChange(t *testing.T) {
	api := startDevFed(t)
	const id = "refuser"
	file := devConfig(t, api, id, pluginsDir(t, map[string]string{"dp-1.wasm": "examples/dataprocessor/v1.0.0"}), dataDir(t), 150*time.Millisecond, "300ms")
	first := start(t, "--config", file)
	testutil.Eventually(t, waitLimit, "the neuron active", func() bool { return api.statuses(t)[id] == "active" })

	var c change
	api.post(t, "/api/admin/configs", `{"target": "fleet", "config": {"colour": "red"}}`, http.StatusCreated, &c)
	if c.Outcome != "refused" || len(c.Refused) != 1 || c.Refused[0].NeuronID != id || !strings.Contains(c.Refused[0].Reason, "colour") {
		t.Fatalf("the refused config answered %+v, want refused by %s with the reason", c, id)
	}
	setOwn := func(n *neuron, batch int) {
		t.Helper()
		api.post(t, "/api/admin/configs", fmt.Sprintf(`{"target": %q, "config": {"batchSize": %d}}`, id, batch), http.StatusCreated, &c)
		if c.Outcome != "applied" {
			t.Errorf("the neuron's own config after the refusal: %+v, want applied (the refused fleet key left out)", c)
		}
		if got := n.batchSize(t); got != batch {
			t.Errorf("the data processor's batchSize is %d, want %d", got, batch)
		}
	}
	setOwn(first, 7)

	if err := first.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	again := start(t, "--config", file)
	testutil.Eventually(t, waitLimit, "the restarted neuron registered and active", func() bool {
		var n struct{ BaseURL, Status string }
		api.get(t, "/api/admin/neurons/"+id, &n)
		return n.BaseURL == again.base && n.Status == "active"
	})
	setOwn(again, 8)
	testutil.Eventually(t, waitLimit, "the config_applied event of "+c.Version, func() bool {
		return len(eventsOf(t, api, id, "config_applied", c.Version)) > 0
	})
	if got := eventsOf(t, api, id, "config_rejected", ""); len(got) != 1 {
		t.Errorf("%d config_rejected events, want 1: the refusal reported once, not again after the restart", len(got))
	}
	if n := strings.Count(first.log.String()+again.log.String(), `msg="update rejected"`); n != 1 {
		t.Errorf("%d \"update rejected\" warnings over both runs, want 1", n)
	}
}

// eventsOf lists the neuron's events of typ, those with data.version
// version when it is not "".
func eventsOf(t *testing.T, api adminAPI, id, typ, version string) []json.RawMessage {
	t.Helper()
	var list []struct {
		Data json.RawMessage `json:"data"`
	}
	api.get(t, "/api/admin/neurons/"+id+"/events?type="+typ, &list)
	var out []json.RawMessage
	for _, e := range list {
		var d struct{ Version string }
		if version == "" || json.Unmarshal(e.Data, &d) == nil && d.Version == version {
			out = append(out, e.Data)
		}
	}
	return out
}
