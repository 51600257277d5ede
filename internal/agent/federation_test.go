package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/federation/fedtest"
	"github.com/empirefederation/neuron/internal/testutil"
)

// These tests run a whole neuron against fedtest, a real HTTP federation
// on loopback that records what it receives and can go down, answer 401
// or 5xx, or be slow.

// federationConfig writes a configuration joining fed with short
// intervals; extra is added at the top level, fedExtra (indented two
// spaces) to the federation section.
func federationConfig(t *testing.T, fed *fedtest.Server, plugins, data, extra string, fedExtra ...string) string {
	t.Helper()
	return writeFile(t, "neuron.yaml", fmt.Sprintf(`
id: test-neuron
name: Test Neuron
listen: 127.0.0.1:0
pluginsDir: %s
dataDir: %s
federation:
  url: %s
  heartbeatInterval: 100ms
  analyticsInterval: 150ms
  configPollInterval: 100ms
  capabilities: [batch_operations]
  metadata: {environment: test}
%s
settings:
  batchSize: 1000
  region: eu
%s`, plugins, data, fed.URL(), strings.Join(fedExtra, "\n"), extra))
}

// push sends an update to the neuron's update-config route with token.
func (n *neuron) push(t *testing.T, token, body string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, n.base+"/api/neuron/update-config", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&b)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// batchSize is what the data processor reads as its batchSize now.
func (n *neuron) batchSize(t *testing.T) int {
	t.Helper()
	var st struct {
		Config struct {
			BatchSize int `json:"batchSize"`
		} `json:"config"`
	}
	n.do(t, "GET", "/status", "").decode(t, &st)
	return st.Config.BatchSize
}

// events lists the types of every event the federation received.
func events(fed *fedtest.Server) []string {
	var out []string
	for _, r := range fed.Analytics() {
		for _, e := range r.Events {
			out = append(out, e.Type)
		}
	}
	return out
}

func count(list []string, v string) int {
	n := 0
	for _, s := range list {
		if s == v {
			n++
		}
	}
	return n
}

func lastHeartbeat(fed *fedtest.Server) federation.Status {
	hb := fed.Heartbeats()
	if len(hb) == 0 {
		return federation.Status{}
	}
	return hb[len(hb)-1]
}

func TestFederation_Lifecycle(t *testing.T) {
	fed := fedtest.New(t)
	plugins := pluginsDir(t, map[string]string{"dp.wasm": "examples/dataprocessor/v1.0.0"})
	n := start(t, "--config", federationConfig(t, fed, plugins, dataDir(t), ""))

	testutil.Eventually(t, waitLimit, "registration", func() bool { return len(fed.Registrations()) > 0 })
	reg := fed.Registrations()[0]
	t.Run("registration", func(t *testing.T) {
		var eps []string
		for _, e := range reg.APIEndpoints {
			eps = append(eps, e.Method+" "+e.Path)
		}
		slices.Sort(eps)
		if want := []string{"GET /status", "POST /process"}; !slices.Equal(eps, want) {
			t.Errorf("apiEndpoints %v, want %v", eps, want)
		}
		if reg.NeuronID != "test-neuron" || reg.Name != "Test Neuron" || reg.BaseURL != n.base || reg.HealthcheckEndpoint != "/health" {
			t.Errorf("identity %+v", reg)
		}
		if !slices.Contains(reg.Capabilities, "batch_operations") || reg.Metadata["environment"] != "test" {
			t.Errorf("capabilities %v metadata %v", reg.Capabilities, reg.Metadata)
		}
		if reg.AlertThresholds.ErrorRate != 5 || reg.AlertThresholds.ResponseTime != 2000 || reg.AlertThresholds.HealthScore != 80 {
			t.Errorf("alert thresholds %+v", reg.AlertThresholds)
		}
		if reg.ResourceRequirements.Memory == "" || len(reg.DeploymentInfo.Ports) != 1 {
			t.Errorf("resources %+v deployment %+v", reg.ResourceRequirements, reg.DeploymentInfo)
		}
	})

	t.Run("heartbeat", func(t *testing.T) {
		testutil.Eventually(t, waitLimit, "a heartbeat", func() bool { return len(fed.Heartbeats()) > 0 })
		hb := lastHeartbeat(fed)
		if hb.Status != federation.StatusActive || hb.HealthScore <= 0 || hb.ProcessID == "" || hb.HostInfo.Hostname == "" || hb.HostInfo.IP == "" {
			t.Errorf("heartbeat %+v", hb)
		}
		if hb.SystemMetrics.MemoryUsage <= 0 || hb.SystemMetrics.DiskUsage <= 0 || hb.PerformanceMetrics.SuccessRate != 100 {
			t.Errorf("metrics %+v %+v", hb.SystemMetrics, hb.PerformanceMetrics)
		}
	})

	t.Run("analytics count real traffic", func(t *testing.T) {
		for i := range 5 {
			r := n.do(t, "POST", "/process", fmt.Sprintf(`{"batchId": "b%d", "records": [{"id": 1, "email": "a@example.com"}, {"id": 1, "email": "a@example.com"}]}`, i))
			if r.status != 200 {
				t.Fatalf("process: %d %s", r.status, r.body)
			}
		}
		for range 2 {
			if r := n.do(t, "POST", "/process", `{"records": "not a list"}`); r.status != 400 {
				t.Fatalf("bad batch: %d %s", r.status, r.body)
			}
		}
		n.do(t, "GET", "/status", "")
		testutil.Eventually(t, waitLimit, "8 requests in analytics", func() bool { return fed.SumAnalytics().TotalRequests >= 8 })
		sum := fed.SumAnalytics()
		if sum.TotalRequests != 8 || sum.SuccessfulRequests != 6 || sum.FailedRequests != 2 || sum.DataProcessed <= 0 {
			t.Errorf("totals %+v, want 8 requests, 6 successful, 2 failed", sum)
		}
		if sum.CustomMetrics["batchesCompleted"] != 5 || sum.CustomMetrics["duplicatesFound"] != 5 {
			t.Errorf("custom metrics %v, want 5 batches and 5 duplicates", sum.CustomMetrics)
		}
		ev := events(fed)
		if count(ev, "batch_completed") != 5 || count(ev, "plugin_loaded") != 1 {
			t.Errorf("events %v, want 5 batch_completed and 1 plugin_loaded", ev)
		}
	})

	t.Run("payloads have the reference's shape", func(t *testing.T) {
		for _, tc := range []struct {
			path, example string
			free          []string
			allowed       []string // known differences, documented in docs/federation.md; a trailing "." allows a whole subtree
		}{
			{"/api/neuron/register", "registration.json", []string{"$.metadata"}, []string{"$.authentication.tokenEndpoint: missing"}},
			{"/api/neuron/status", "status.json", []string{"$.dependencyStatus"}, []string{"$.hostInfo.containerId: missing"}},
			// Event data is each event type's own (docs/federation.md lists them).
			{"/api/analytics/report", "analytics.json", []string{"$.metrics.customMetrics", "$.events[*].data"},
				[]string{"$.timestamp", "$.breakdown", "$.events[*].id", "$.events[*].plugin", "$.events[*].version", "$.events[*].data."}},
		} {
			ref, err := os.ReadFile(filepath.Join("..", "..", "federation", "testdata", tc.example))
			if err != nil {
				t.Fatal(err)
			}
			reqs := fed.Requests(tc.path)
			if len(reqs) == 0 {
				t.Fatalf("nothing sent to %s", tc.path)
			}
			for _, req := range reqs {
				problems, extra, err := fedtest.Shape(ref, req.Body, tc.free...)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range append(problems, extra...) {
					p := regexp.MustCompile(`\[\d+\]`).ReplaceAllString(p, "[*]")
					if !slices.ContainsFunc(tc.allowed, func(a string) bool { return a == p || strings.HasSuffix(a, ".") && strings.HasPrefix(p, a) }) {
						t.Errorf("%s: %s (body %.300s)", tc.path, p, req.Body)
					}
				}
			}
		}
	})

	token := func() string { tk := fed.Tokens(); return tk[len(tk)-1] }
	t.Run("pushed config", func(t *testing.T) {
		body := `{"config": {"batchSize": 2, "maxRetries": 3}, "version": "cfg-2"}`
		n.push(t, "", body).wantError(t, "no bearer", 401, "unauthorized")
		n.push(t, "forged", body).wantError(t, "wrong bearer", 401, "unauthorized")
		if n.batchSize(t) != 1000 {
			t.Fatal("an unauthorized push changed the config")
		}
		if r := n.push(t, token(), body); r.status != 200 {
			t.Fatalf("push: %d %s", r.status, r.body)
		}
		if got := n.batchSize(t); got != 2 {
			t.Errorf("batchSize %d after push, want 2", got)
		}
		testutil.Eventually(t, waitLimit, "configVersion cfg-2 in a heartbeat", func() bool { return lastHeartbeat(fed).ConfigVersion == "cfg-2" })

		r := n.push(t, token(), `{"config": {"batchSize": "big", "colour": "red"}, "version": "cfg-bad"}`)
		e := r.wantError(t, "invalid update", 422, "update_rejected")
		if !strings.Contains(e.Error, "batchSize") || !strings.Contains(e.Error, "colour") {
			t.Errorf("reason %q does not name both bad keys", e.Error)
		}
		if got := n.batchSize(t); got != 2 {
			t.Errorf("batchSize %d after a rejected update, want the old 2", got)
		}
		testutil.Eventually(t, waitLimit, "config events", func() bool {
			ev := events(fed)
			return count(ev, "config_applied") >= 1 && count(ev, "config_rejected") == 1
		})
	})

	t.Run("pulled config", func(t *testing.T) {
		fed.SetConfig(federation.Update{Config: map[string]any{"batchSize": 3}, Version: "cfg-3"})
		testutil.Eventually(t, waitLimit, "pulled batchSize 3", func() bool { return n.batchSize(t) == 3 })
		testutil.Eventually(t, waitLimit, "configVersion cfg-3", func() bool { return lastHeartbeat(fed).ConfigVersion == "cfg-3" })
	})

	t.Run("command", func(t *testing.T) {
		cmd := `{"command": {"id": "cmd-1", "type": "restart_worker", "data": {"workerId": "all", "graceful": true}}}`
		var res struct {
			Data struct {
				Command struct {
					OK       bool `json:"ok"`
					Repeated bool `json:"repeated"`
					Running  bool `json:"running"`
				} `json:"command"`
			} `json:"data"`
		}
		// Pushed again while it still runs (a busy machine): the neuron
		// answers running, then its outcome, never a second run.
		testutil.Eventually(t, waitLimit, "restart_worker's outcome", func() bool {
			n.push(t, token(), cmd).decode(t, &res)
			return !res.Data.Command.Running
		})
		if !res.Data.Command.OK {
			t.Fatalf("restart_worker: %+v", res)
		}
		n.push(t, token(), cmd).decode(t, &res)
		if !res.Data.Command.Repeated {
			t.Errorf("the same command id ran twice: %+v", res)
		}
		n.push(t, token(), `{"command": {"id": "cmd-2", "type": "self_destruct"}}`).wantError(t, "unknown command", 422, "update_rejected")
		if r := n.do(t, "GET", "/status", ""); r.status != 200 {
			t.Errorf("serving after restart_worker: %d", r.status)
		}
		testutil.Eventually(t, waitLimit, "command_executed", func() bool { return count(events(fed), "command_executed") == 1 })
	})

	t.Run("401 re-registers once", func(t *testing.T) {
		before := len(fed.Registrations())
		beats := len(fed.Heartbeats())
		fed.Unauthorized(1)
		testutil.Eventually(t, waitLimit, "re-registration and heartbeats after it", func() bool {
			return len(fed.Registrations()) > before && len(fed.Heartbeats()) > beats+3
		})
		if got := len(fed.Registrations()); got != before+1 {
			t.Errorf("%d registrations after one 401, want exactly %d", got, before+1)
		}
	})

	t.Run("re-registers when the processors change", func(t *testing.T) {
		hello, err := os.ReadFile(testutil.BuildWasm(t, "examples/hello"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(plugins, "hello.wasm"), hello, 0o644); err != nil {
			t.Fatal(err)
		}
		before := len(fed.Registrations())
		if err := n.a.Runtime().LoadDir(context.Background()); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, waitLimit, "a registration with the hello endpoint", func() bool {
			regs := fed.Registrations()
			return len(regs) > before && slices.ContainsFunc(regs[len(regs)-1].APIEndpoints, func(e federation.Endpoint) bool {
				return e.Method == "GET" && e.Path == "/hello/{name}"
			})
		})
	})

	t.Run("stop", func(t *testing.T) {
		n.do(t, "GET", "/status", "")
		before := fed.SumAnalytics().TotalRequests
		if err := n.stop(); err != nil {
			t.Fatal(err)
		}
		stopping := 0
		for _, hb := range fed.Heartbeats() {
			if hb.Status == federation.StatusStopping {
				stopping++
			}
		}
		if hb := lastHeartbeat(fed); hb.Status != federation.StatusStopping || stopping != 1 {
			t.Errorf("last heartbeat %q, %d stopping heartbeats; want exactly one, last", hb.Status, stopping)
		}
		if got := fed.SumAnalytics().TotalRequests; got != before+1 && got != before {
			t.Errorf("requests %d, before stop %d", got, before)
		}
	})
}

// TestFederation_OutageLosesNothing: the neuron serves while the federation
// is down, and every request made meanwhile is in the analytics after it
// returns, counted exactly once.
func TestFederation_OutageLosesNothing(t *testing.T) {
	fed := fedtest.New(t)
	plugins := pluginsDir(t, map[string]string{"hello.wasm": "examples/hello"})
	n := start(t, "--config", federationConfig(t, fed, plugins, dataDir(t), ""))
	testutil.Eventually(t, waitLimit, "registration", func() bool { return len(fed.Heartbeats()) > 0 })

	fed.Down()
	const requests = 40
	for i := range requests {
		if r := n.do(t, "GET", fmt.Sprintf("/hello/n%d", i), ""); r.status != 200 {
			t.Fatalf("request %d during the outage: %d %s", i, r.status, r.body)
		}
	}
	if r := n.do(t, "GET", "/ready", ""); r.status != 200 {
		t.Errorf("/ready %d during the outage", r.status)
	}
	// The federation answering 500 and 429 after it is back delays
	// delivery; it loses nothing and duplicates nothing.
	fed.FailNext("/api/analytics/report", 500, 2)
	fed.Up()
	testutil.Eventually(t, waitLimit, "the outage's requests in analytics", func() bool {
		return fed.SumAnalytics().TotalRequests >= requests
	})
	if got := fed.SumAnalytics().TotalRequests; got != requests {
		t.Errorf("analytics count %d requests, want exactly %d", got, requests)
	}
}

// TestFederation_Dependencies: probes speak Redis and PostgreSQL to real
// servers; a required dependency that is down makes /health 503, the
// heartbeat degraded, and raises an alert.
//
// Each dependency is probed once at start and not again within the test
// (the interval is far longer than it runs), with a timeout no loaded
// machine reaches: the statuses seen are the servers' answers, never a
// probe that lost a race with the clock.
func TestFederation_Dependencies(t *testing.T) {
	fed := fedtest.New(t)
	closed := closedPort(t)
	extra := fmt.Sprintf(`dependencies:
  - {name: redis, kind: redis, target: %[1]q, interval: 1h, timeout: %[4]s}
  - {name: postgresql, kind: postgres, target: %[2]q, interval: 1h, timeout: %[4]s}
  - {name: ledger, kind: tcp, target: %[3]q, interval: 1h, timeout: %[4]s}
`, testutil.Redis(t), testutil.Postgres(t), closed, waitLimit)
	n := start(t, "--config", federationConfig(t, fed, t.TempDir(), dataDir(t), extra))

	testutil.Eventually(t, waitLimit, "a heartbeat with every dependency probed", func() bool {
		hb := lastHeartbeat(fed)
		return len(hb.DependencyStatus) == 3 && hb.DependencyStatus["postgresql"] != "unknown" && hb.DependencyStatus["redis"] != "unknown" && hb.DependencyStatus["ledger"] != "unknown"
	})
	hb := lastHeartbeat(fed)
	want := map[string]string{"redis": "healthy", "postgresql": "healthy", "ledger": "unhealthy"}
	if !maps.Equal(hb.DependencyStatus, want) {
		t.Errorf("dependencyStatus %v, want %v", hb.DependencyStatus, want)
	}
	if hb.Status != federation.StatusDegraded || hb.HealthScore > 90 {
		t.Errorf("status %q score %d with a required dependency down; want degraded and at most 90 (one of three required down costs 10)", hb.Status, hb.HealthScore)
	}
	if reg := fed.Registrations()[0]; !slices.Equal(reg.Dependencies, []string{"redis", "postgresql", "ledger"}) {
		t.Errorf("registration dependencies %v", reg.Dependencies)
	}
	var health struct {
		Status       string            `json:"status"`
		Dependencies map[string]string `json:"dependencies"`
	}
	r := n.do(t, "GET", "/health", "")
	r.decode(t, &health)
	if r.status != 503 || health.Status != "unhealthy" || !maps.Equal(health.Dependencies, want) {
		t.Errorf("/health %d %s", r.status, r.body)
	}
	testutil.Eventually(t, waitLimit, "an alert event", func() bool { return count(events(fed), "alert") >= 1 })
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestFederation_LastGoodConfig: a pushed config acts on the runtime
// (timeoutSeconds is the call timeout) and processors (batchSize), and is
// what a restarted neuron serves while the federation is down.
func TestFederation_LastGoodConfig(t *testing.T) {
	fed := fedtest.New(t)
	plugins := pluginsDir(t, map[string]string{"dp.wasm": "examples/dataprocessor/v1.0.0", "loop.wasm": "runtime/testdata/guests/loop"})
	data := dataDir(t)
	cfg := federationConfig(t, fed, plugins, data, "")
	n := start(t, "--config", cfg)
	testutil.Eventually(t, waitLimit, "registration (its first heartbeat: the neuron holds its token)", func() bool { return len(fed.Heartbeats()) > 0 })
	token := fed.Tokens()[len(fed.Tokens())-1]
	// timeoutSeconds 2, not less: it bounds every call, and a call to the
	// data processor on a loaded machine must not run out of it.
	if r := n.push(t, token, `{"config": {"batchSize": 7, "timeoutSeconds": 2}, "version": "v-7"}`); r.status != 200 {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	check := func(n *neuron) {
		t.Helper()
		if got := n.batchSize(t); got != 7 {
			t.Errorf("batchSize %d, want the pushed 7", got)
		}
		if got := n.a.Runtime().Dynamic().CallTimeout; got != 2*time.Second {
			t.Errorf("call timeout %v, want the pushed timeoutSeconds, 2s", got)
		}
		n.do(t, "GET", "/t/loop/spin", "").wantError(t, "a spin past timeoutSeconds", 504, "timeout")
	}
	check(n)
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}

	fed.Down()
	again := start(t, "--config", cfg)
	check(again)
	testutil.Eventually(t, waitLimit, "the restarted neuron to report v-7 once the federation is back", func() bool {
		fed.Up()
		return lastHeartbeat(fed).ConfigVersion == "v-7"
	})
}

// TestFederation_SpoolBound: while the federation is away the spool keeps at
// most spoolMaxReports; the oldest are dropped, and the drop is counted and
// reported when it returns.
func TestFederation_SpoolBound(t *testing.T) {
	fed := fedtest.New(t)
	n := start(t, "--config", federationConfig(t, fed, t.TempDir(), dataDir(t), "", "  spoolMaxReports: 2"))
	testutil.Eventually(t, waitLimit, "registration", func() bool { return len(fed.Heartbeats()) > 0 })
	fed.Down()
	testutil.Eventually(t, waitLimit, "reports dropped", func() bool {
		v, _ := n.metric(t, "neuron_analytics_reports_dropped_total")
		return v >= 3
	})
	if v, _ := n.metric(t, "neuron_analytics_spool_reports"); v > 2 {
		t.Errorf("%v reports spooled, bound is 2", v)
	}
	fed.Up()
	testutil.Eventually(t, waitLimit, "the drop reported", func() bool { return fed.SumAnalytics().Dropped >= 3 })
}
