package agent_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/internal/testutil"
)

// settingsNeuron is the neuron of TestDevFederation_ProcessorSettings: no
// config file, only flags and the environment, serving the data processor
// 1.1.0, which declares batchSize, enableDebugMode and maxDetails.
const settingsNeuron = "settings-a"

// duplicatesListed posts a batch of four records with the same id (three
// duplicates) to n's data processor and returns how many duplicates its
// answer lists: at most its maxDetails setting.
func duplicatesListed(t *testing.T, n *neuron) int {
	t.Helper()
	r := n.do(t, "POST", "/process", `{"batchId": "b", "records": [
		{"id": "1", "email": "a@example.com"}, {"id": "1", "email": "b@example.com"},
		{"id": "1", "email": "c@example.com"}, {"id": "1", "email": "d@example.com"}]}`)
	var answer struct {
		DuplicatesFound int   `json:"duplicatesFound"`
		Duplicates      []any `json:"duplicates"`
	}
	r.decode(t, &answer)
	if r.status != http.StatusOK || answer.DuplicatesFound != 3 {
		t.Fatalf("POST /process: %d %s, want 200 with 3 duplicates", r.status, r.body)
	}
	return len(answer.Duplicates)
}

// pushConfig sends config to target through the federation's admin API
// and waits until the neuron's delivery of it is settled (applied or
// rejected); it returns the delivery.
func pushConfig(t *testing.T, api adminAPI, target, config string) delivery {
	t.Helper()
	var cfg struct {
		Version string `json:"version"`
	}
	api.post(t, "/api/admin/configs", `{"target": "`+target+`", "config": `+config+`}`, http.StatusCreated, &cfg)
	var settled delivery
	testutil.Eventually(t, waitLimit, "the delivery of "+config+" settled", func() bool {
		var list []struct {
			Version    string     `json:"version"`
			Deliveries []delivery `json:"deliveries"`
		}
		api.get(t, "/api/admin/configs?target="+target, &list)
		for _, c := range list {
			if c.Version != cfg.Version {
				continue
			}
			for _, d := range c.Deliveries {
				if d.NeuronID == settingsNeuron && (d.Status == "applied" || d.Status == "rejected") {
					settled = d
					return true
				}
			}
		}
		return false
	})
	return settled
}

// TestDevFederation_ProcessorSettings: a processor declares its settings;
// the development federation sets one, for the fleet and then for the
// neuron, on a neuron that has no config file, with no restart, and the
// next call sees it. A key the processor does not declare and a value of
// another type are refused, naming the declared keys, and change nothing.
func TestDevFederation_ProcessorSettings(t *testing.T) {
	api := startDevFed(t)
	plugins := pluginsDir(t, map[string]string{"dp.wasm": "examples/dataprocessor/v1.1.0"})
	// No --config and no NEURON_CONFIG: nothing declares the processor's
	// settings but the processor itself.
	env := map[string]string{"NEURON_HEARTBEAT_INTERVAL": devHeartbeat.String()}
	n := startEnv(t, func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		"--id", settingsNeuron, "--listen", "127.0.0.1:0", "--plugins-dir", plugins,
		"--data-dir", dataDir(t), "--federation-url", api.base)
	testutil.Eventually(t, waitLimit, "the neuron active", func() bool {
		return api.statuses(t)[settingsNeuron] == "active"
	})
	if got := duplicatesListed(t, n); got != 3 {
		t.Fatalf("%d duplicates listed before any update, want all 3 (the declared maxDetails is 100)", got)
	}

	steps := []struct {
		name, target, config string
		status               string   // of the delivery
		detail               []string // in the delivery's detail
		listed               int      // duplicates listed afterwards
	}{
		{"fleet sets a declared key", "fleet", `{"plugins.data-processor.maxDetails": 1}`, "applied", nil, 1},
		{"the neuron's own config over the fleet's", settingsNeuron, `{"plugins.data-processor.maxDetails": 2}`, "applied", nil, 2},
		{"an undeclared key", settingsNeuron, `{"plugins.data-processor.colour": "red"}`, "rejected", []string{
			`config.plugins.data-processor.colour: data-processor declares no setting "colour"; it declares batchSize (number), enableDebugMode (boolean), maxDetails (number)`,
		}, 2},
		{"a value of another type", settingsNeuron, `{"plugins.data-processor.maxDetails": "many"}`, "rejected", []string{
			`config.plugins.data-processor.maxDetails: must be a number like data-processor's declared default, got a string`,
		}, 2},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			d := pushConfig(t, api, st.target, st.config)
			if d.Status != st.status {
				t.Fatalf("delivery %s (%s), want %s", d.Status, d.Detail, st.status)
			}
			for _, want := range st.detail {
				if !strings.Contains(d.Detail, want) {
					t.Errorf("delivery detail %q\nwant it to contain %q", d.Detail, want)
				}
			}
			if got := duplicatesListed(t, n); got != st.listed {
				t.Errorf("%d duplicates listed, want %d (maxDetails)", got, st.listed)
			}
		})
	}
}
