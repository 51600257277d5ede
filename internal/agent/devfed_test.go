package agent_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/devfed"
	"github.com/empirefederation/neuron/internal/testutil"
)

// These tests run real neurons against the development federation
// (internal/devfed) on loopback, and drive them through its admin API as
// the dashboard does: the whole loop of issue 5, with nothing mocked.

// devHeartbeat is the heartbeat period of the neurons in these tests.
const devHeartbeat = 200 * time.Millisecond

// devLiveness is the heartbeat period the development federation expects:
// it shows a neuron offline, and frees its id, after five periods without
// a heartbeat. It is far longer than devHeartbeat so that a neuron slowed
// by a loaded machine is never taken for offline in the middle of a test
// (at 200 ms, one second without a heartbeat did it); no test here waits
// for a neuron to go offline.
const devLiveness = waitLimit / 5

// adminAPI is a client of a development federation's admin API.
type adminAPI struct {
	base, token string
	client      *http.Client
}

// startDevFed serves a development federation on loopback, as `neuron
// federation serve` does, until the test ends (after the neurons the test
// starts later have stopped).
func startDevFed(t *testing.T) adminAPI {
	t.Helper()
	return startDevFedWith(t, devfed.Options{})
}

// startDevFedWith is startDevFed with the options serveDevFed takes from o.
func startDevFedWith(t *testing.T, o devfed.Options) adminAPI {
	t.Helper()
	api, _ := serveDevFed(t, "127.0.0.1:0", t.TempDir(), devfed.GenerateToken(), o)
	return api
}

// serveDevFed serves a development federation on addr with its state in
// data and o's PushTimeout, RegisterBurst, HeartbeatInterval (0:
// devLiveness) and Logger (nil: the test's output), until the test ends or
// the returned stop is called (which the test's end then does not repeat).
func serveDevFed(t *testing.T, addr, data, token string, o devfed.Options) (adminAPI, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	d, err := devfed.Serve(ln, devfed.Options{DataDir: data, AdminToken: token, HeartbeatInterval: cmp.Or(o.HeartbeatInterval, devLiveness),
		PushTimeout: o.PushTimeout, RegisterBurst: o.RegisterBurst, Logger: o.Logger})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			if err := d.Stop(context.Background()); err != nil {
				t.Errorf("stop the development federation: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return adminAPI{base: d.URL(), token: token, client: &http.Client{Timeout: waitLimit}}, stop
}

// call sends a request to the admin API and decodes the answer's data
// into v, when v is not nil. It returns the status and the raw answer.
func (api adminAPI) call(t *testing.T, method, path, body string, v any) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, api.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+api.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := api.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil && resp.StatusCode < 300 {
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(raw, &env); err != nil || json.Unmarshal(env.Data, v) != nil {
			t.Fatalf("%s %s: %d %.500s: not the data asked for", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, raw
}

// get is call for a GET that must answer 200.
func (api adminAPI) get(t *testing.T, path string, v any) {
	t.Helper()
	if status, raw := api.call(t, "GET", path, "", v); status != http.StatusOK {
		t.Fatalf("GET %s: %d %.500s", path, status, raw)
	}
}

// post is call for a POST that must answer want.
func (api adminAPI) post(t *testing.T, path, body string, want int, v any) {
	t.Helper()
	if status, raw := api.call(t, "POST", path, body, v); status != want {
		t.Fatalf("POST %s %s: %d %.500s, want %d", path, body, status, raw, want)
	}
}

// statuses maps each neuron id of GET /api/admin/neurons to its status.
func (api adminAPI) statuses(t *testing.T) map[string]string {
	t.Helper()
	var list []struct{ ID, Status string }
	api.get(t, "/api/admin/neurons", &list)
	out := map[string]string{}
	for _, n := range list {
		out[n.ID] = n.Status
	}
	return out
}

// delivery is one neuron's delivery of a config or experiment.
type delivery struct {
	NeuronID string `json:"neuronId"`
	Status   string `json:"status"`
	Detail   string `json:"detail"`
}

// delivered reports whether every one of ids has a delivery in status.
func delivered(deliveries []delivery, status string, ids ...string) bool {
	got := map[string]string{}
	for _, d := range deliveries {
		got[d.NeuronID] = d.Status
	}
	for _, id := range ids {
		if got[id] != status {
			return false
		}
	}
	return true
}

// devNeuron starts a neuron with id joining the federation at api, serving
// both versions of the data processor, with short periods.
func devNeuron(t *testing.T, api adminAPI, id string) *neuron {
	t.Helper()
	plugins := pluginsDir(t, map[string]string{"dp-1.wasm": "examples/dataprocessor/v1.0.0", "dp-2.wasm": "examples/dataprocessor/v1.1.0"})
	return start(t, "--config", devConfig(t, api, id, plugins, dataDir(t), 150*time.Millisecond, "300ms"))
}

// devConfig is the configuration file of a neuron with id joining the
// federation at api, serving plugins, with short periods, analytics every
// analytics and a config poll every poll.
func devConfig(t *testing.T, api adminAPI, id, plugins, data string, analytics time.Duration, poll string) string {
	t.Helper()
	return neuronConfig(t, api.base, id, plugins, data, devHeartbeat, analytics, poll)
}

// neuronConfig is the configuration file of a neuron with id joining the
// federation at fed, serving plugins, heartbeating every heartbeat.
func neuronConfig(t *testing.T, fed, id, plugins, data string, heartbeat, analytics time.Duration, poll string) string {
	t.Helper()
	return writeFile(t, "neuron.yaml", fmt.Sprintf(`
id: %s
listen: 127.0.0.1:0
pluginsDir: %s
dataDir: %s
shutdownTimeout: 5s
federation:
  url: %s
  heartbeatInterval: %s
  analyticsInterval: %s
  configPollInterval: %s
settings:
  batchSize: 1000
`, id, plugins, data, fed, heartbeat, analytics, poll))
}

// TestDevFederation_TwoNeurons: two neurons join a development federation;
// a config, an experiment and a command sent through its admin API reach
// them and come back as outcomes; a third process claiming one of their
// ids is refused, and says so.
func TestDevFederation_TwoNeurons(t *testing.T) {
	api := startDevFed(t)
	ids := []string{"dev-a", "dev-b"}
	neurons := []*neuron{devNeuron(t, api, ids[0]), devNeuron(t, api, ids[1])}

	testutil.Eventually(t, waitLimit, "both neurons active", func() bool {
		st := api.statuses(t)
		return st[ids[0]] == "active" && st[ids[1]] == "active"
	})

	t.Run("fleet config", func(t *testing.T) {
		var cfg struct {
			Version    string     `json:"version"`
			Deliveries []delivery `json:"deliveries"`
		}
		api.post(t, "/api/admin/configs", `{"target": "fleet", "config": {"batchSize": 1500}}`, http.StatusCreated, &cfg)
		if cfg.Version == "" {
			t.Fatal("the config has no version")
		}
		for i, id := range ids {
			testutil.Eventually(t, waitLimit, id+"'s heartbeat with the config's version", func() bool {
				var hb []struct {
					ConfigVersion string `json:"configVersion"`
				}
				api.get(t, "/api/admin/neurons/"+id+"/heartbeats", &hb)
				return len(hb) > 0 && hb[len(hb)-1].ConfigVersion == cfg.Version
			})
			if got := neurons[i].batchSize(t); got != 1500 {
				t.Errorf("%s: the data processor's batchSize is %d, want the fleet's 1500", id, got)
			}
		}
		testutil.Eventually(t, waitLimit, "both deliveries applied", func() bool {
			var list []struct {
				Version    string     `json:"version"`
				Deliveries []delivery `json:"deliveries"`
			}
			api.get(t, "/api/admin/configs?target=fleet", &list)
			return len(list) > 0 && list[0].Version == cfg.Version && delivered(list[0].Deliveries, "applied", ids...)
		})
	})

	t.Run("experiment", func(t *testing.T) {
		api.post(t, "/api/admin/experiments", `{"target": "fleet", "experiment": {"id": "exp-dev", "plugin": "data-processor",
			"stickyKey": "query:user", "variants": [{"name": "control", "weight": 50, "version": "1.1.0"},
			{"name": "old", "weight": 50, "version": "1.0.0"}]}}`, http.StatusCreated, nil)
		const users = 20
		for i, n := range neurons {
			testutil.Eventually(t, waitLimit, ids[i]+" splitting traffic", func() bool {
				return n.do(t, "GET", "/status?user=probe", "").header.Get("X-Neuron-Variant") != ""
			})
		}
		// The probes above count too: one per poll until the split arrived.
		want := map[string]string{"control": "data-processor@1.1.0", "old": "data-processor@1.0.0"}
		for i, n := range neurons {
			for u := range users {
				r := n.do(t, "GET", fmt.Sprintf("/status?user=user-%d", u), "")
				v := r.header.Get("X-Neuron-Variant")
				if r.status != http.StatusOK || want[v] == "" || r.header.Get("X-Neuron-Plugin") != want[v] {
					t.Fatalf("%s user-%d: %d variant %q plugin %q", ids[i], u, r.status, v, r.header.Get("X-Neuron-Plugin"))
				}
			}
		}
		type result struct {
			Variant       string `json:"variant"`
			Neurons       int    `json:"neurons"`
			TotalRequests int64  `json:"totalRequests"`
		}
		var exp struct {
			Status     string     `json:"status"`
			Deliveries []delivery `json:"deliveries"`
			Results    []result   `json:"results"`
		}
		testutil.Eventually(t, waitLimit, "per-variant results from both neurons", func() bool {
			api.get(t, "/api/admin/experiments/exp-dev", &exp)
			total, both := int64(0), 0
			for _, r := range exp.Results {
				total += r.TotalRequests
				if r.Neurons == 2 {
					both++
				}
			}
			return len(exp.Results) == 2 && both == 2 && total >= 2*users
		})
		if exp.Status != "running" || !delivered(exp.Deliveries, "applied", ids...) {
			t.Errorf("experiment %+v: want running, applied by both", exp)
		}
	})

	t.Run("command", func(t *testing.T) {
		var cmds []struct {
			ID, NeuronID, CreatedAt string
		}
		api.post(t, "/api/admin/commands", `{"target": "`+ids[1]+`", "type": "restart_worker", "data": {"workerId": "all", "graceful": true}}`,
			http.StatusCreated, &cmds)
		if len(cmds) != 1 || cmds[0].NeuronID != ids[1] || !strings.HasPrefix(cmds[0].ID, "cmd-") {
			t.Fatalf("commands created: %+v", cmds)
		}
		var outcome struct {
			OK       bool      `json:"ok"`
			IssuedAt time.Time `json:"issuedAt"`
			Result   struct {
				Restarted int `json:"restarted"`
			} `json:"result"`
		}
		testutil.Eventually(t, waitLimit, "the command's outcome", func() bool {
			var list []struct {
				ID, Status string
				Outcome    json.RawMessage
			}
			api.get(t, "/api/admin/commands?neuron="+ids[1], &list)
			for _, c := range list {
				if c.ID == cmds[0].ID && c.Status == "succeeded" {
					return json.Unmarshal(c.Outcome, &outcome) == nil
				}
			}
			return false
		})
		if !outcome.OK || outcome.Result.Restarted < 1 {
			t.Errorf("outcome %+v: want ok with instances restarted", outcome)
		}
		// The neuron's ledger saw when the federation issued the command.
		if created, err := time.Parse(time.RFC3339Nano, cmds[0].CreatedAt); err != nil || !outcome.IssuedAt.Equal(created) {
			t.Errorf("outcome issuedAt %v, want the command's createdAt %q (%v)", outcome.IssuedAt, cmds[0].CreatedAt, err)
		}
	})

	t.Run("same id elsewhere", func(t *testing.T) {
		intruder := devNeuron(t, api, ids[0])
		testutil.Eventually(t, waitLimit, "the intruder's log to say it was refused", func() bool {
			return strings.Contains(intruder.log.String(), "HTTP 409")
		})
		log := intruder.log.String()
		if !strings.Contains(log, "the federation refused the registration") || !strings.Contains(log, neurons[0].base) {
			t.Errorf("the refusal does not say who holds the id (%s):\n%s", neurons[0].base, log)
		}
		if err := intruder.stop(); err != nil {
			t.Errorf("stopping the intruder: %v", err)
		}
		if st := api.statuses(t); st[ids[0]] != "active" {
			t.Errorf("%s is %q after the intruder, want active", ids[0], st[ids[0]])
		}
	})
}
