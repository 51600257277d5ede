package agent_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/internal/agent"
	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/internal/testutil"
)

// embeddedArgs are the arguments of a neuron running its own development
// federation on a free loopback port, with its state in data.
func embeddedArgs(t *testing.T, data string, extra ...string) []string {
	t.Helper()
	plugins := pluginsDir(t, map[string]string{"dp.wasm": "examples/dataprocessor/v1.0.0"})
	return append([]string{"--config", writeFile(t, "neuron.yaml", fmt.Sprintf(`
id: embedded-neuron
listen: 127.0.0.1:0
pluginsDir: %s
dataDir: %s
federation:
  url: embedded
  listen: 127.0.0.1:0
  heartbeatInterval: %s
  analyticsInterval: 150ms
  configPollInterval: 300ms
`, plugins, data, devHeartbeat))}, extra...)
}

// embeddedAPI is the admin API of n's embedded federation, from its
// dashboard address.
func embeddedAPI(t *testing.T, n *neuron) adminAPI {
	t.Helper()
	dash := n.a.Dashboard()
	base, fragment, ok := strings.Cut(dash, "/#token=")
	token, err := url.QueryUnescape(fragment)
	if !ok || err != nil || !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("Dashboard() = %q, want http://127.0.0.1:PORT/#token=TOKEN", dash)
	}
	if !strings.Contains(n.log.String(), dash) {
		t.Errorf("the log does not give the dashboard address %s:\n%s", dash, n.log)
	}
	return adminAPI{base: base, token: token, client: n.client}
}

// TestEmbeddedFederation: FEDERATION_URL=embedded starts a development
// federation in the neuron, which joins it; at shutdown the federation
// receives the stopping heartbeat and the final report before it stops,
// and its data outlives the process.
func TestEmbeddedFederation(t *testing.T) {
	data := dataDir(t)
	n := start(t, embeddedArgs(t, data)...)
	api := embeddedAPI(t, n)
	testutil.Eventually(t, waitLimit, "the neuron active in its own federation", func() bool {
		return api.statuses(t)["embedded-neuron"] == "active"
	})
	if r := n.do(t, "POST", "/process", `{"batchId": "b1", "records": [{"id": "1", "email": "a@example.com"}]}`); r.status != http.StatusOK {
		t.Fatalf("process: %d %s", r.status, r.body)
	}
	if status, _ := (adminAPI{base: api.base, token: "wrong", client: n.client}).call(t, "GET", "/api/admin/neurons", "", nil); status != http.StatusUnauthorized {
		t.Errorf("admin API with a wrong token: %d, want 401", status)
	}
	if err := n.stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if c, err := net.Dial("tcp", strings.TrimPrefix(api.base, "http://")); err == nil {
		c.Close()
		t.Errorf("the embedded federation still listens after Stop")
	}
	if _, err := os.Stat(filepath.Join(data, "federation", "federation.db")); err != nil {
		t.Errorf("no federation store in the data directory: %v", err)
	}

	// Started again on the same data (with a new token): the last run's
	// stopping heartbeat and final report are there.
	n = start(t, embeddedArgs(t, data)...)
	api = embeddedAPI(t, n)
	var hb []struct{ Status string }
	api.get(t, "/api/admin/neurons/embedded-neuron/heartbeats", &hb)
	stopping := false
	for _, h := range hb {
		stopping = stopping || h.Status == "stopping"
	}
	if !stopping {
		t.Errorf("heartbeats %v: want the last run's stopping one", hb)
	}
	var reports []struct{ TotalRequests int64 }
	api.get(t, "/api/admin/neurons/embedded-neuron/analytics", &reports)
	total := int64(0)
	for _, r := range reports {
		total += r.TotalRequests
	}
	if total < 1 {
		t.Errorf("analytics %v: want the last run's request", reports)
	}
}

// TestEmbeddedFederation_Token: FEDERATION_ADMIN_TOKEN (federation.adminToken)
// is the admin token when set, escaped in the dashboard address the way
// the dashboard's decodeURIComponent reads it back.
func TestEmbeddedFederation_Token(t *testing.T) {
	for _, tc := range []struct{ token, fragment string }{
		{"my-token-0123456789", "my-token-0123456789"},
		{"a b+c&d%e-0123456789", "a%20b%2Bc%26d%25e-0123456789"},
	} {
		cfg, err := config.Load(embeddedArgs(t, dataDir(t)), func(name string) (string, bool) {
			return tc.token, name == "FEDERATION_ADMIN_TOKEN"
		})
		if err != nil {
			t.Fatal(err)
		}
		a, err := agent.Start(context.Background(), cfg, &testutil.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if dash := a.Dashboard(); !strings.HasSuffix(dash, "/#token="+tc.fragment) {
			t.Errorf("token %q: Dashboard() = %q, want the fragment token=%s", tc.token, dash, tc.fragment)
		}
		a.Stop()
	}
}

// TestEmbeddedFederation_AddressTaken: the federation's address is held by
// another process; the neuron does not start and says which address and
// which setting to change.
func TestEmbeddedFederation_AddressTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg, err := config.Load(embeddedArgs(t, dataDir(t), "--federation-listen", ln.Addr().String()), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.Start(context.Background(), cfg, &testutil.Buffer{})
	if err == nil {
		a.Stop()
		t.Fatal("the neuron started with its federation's address taken")
	}
	for _, want := range []string{ln.Addr().String(), "FEDERATION_LISTEN", "--federation-listen", "embedded"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestEmbeddedFederation_FailedStartUnwinds: the neuron's own address is
// taken, so Start fails after the embedded federation and the analytics
// spool have started; it stops them, and the same neuron then starts on
// the same data directory and federation address.
func TestEmbeddedFederation_FailedStartUnwinds(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fedAddr := free.Addr().String()
	free.Close()
	data := dataDir(t)
	args := embeddedArgs(t, data, "--federation-listen", fedAddr)
	cfg, err := config.Load(append(args, "--listen", taken.Addr().String()), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.Buffer{}
	if a, err := agent.Start(context.Background(), cfg, logs); err == nil {
		a.Stop()
		t.Fatalf("Start on %s, which is in use, succeeded", taken.Addr())
	} else if !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Errorf("Start: %v; want an error naming %s", err, taken.Addr())
	}
	if !strings.Contains(logs.String(), "development federation serving in this process") {
		t.Fatalf("the embedded federation did not start before the listener failed:\n%s", logs)
	}
	// The federation's address and the spool's lock are free again.
	n := start(t, args...)
	api := embeddedAPI(t, n)
	testutil.Eventually(t, waitLimit, "the neuron active", func() bool { return api.statuses(t)["embedded-neuron"] == "active" })
}
