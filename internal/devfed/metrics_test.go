package devfed

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
)

// scrape reads the federation's /metrics, which needs no token.
func (f *fed) scrape() string {
	f.t.Helper()
	resp, err := http.Get(f.url + "/metrics")
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		f.t.Fatalf("GET /metrics: %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	return string(raw)
}

// sample returns the value of the one sample of name with labels,
// failing the test when there is not exactly one.
func sample(t *testing.T, text, name string, labels ...string) float64 {
	t.Helper()
	v, n := testutil.SumSamples(t, text, name, labels...)
	if n != 1 {
		t.Fatalf("%d samples of %s%v, want 1", n, name, labels)
	}
	return v
}

func TestMetrics(t *testing.T) {
	f := newFed(t)
	// Liveness by the federation's clock (stale after 25s, offline after 50s).
	f.beat(f.register(regBody("gone", "")), "active", "")
	f.clock.Add(30 * time.Second)
	f.beat(f.register(regBody("late", "")), "active", "")
	f.clock.Add(30 * time.Second)
	nrn := newFakeNeuron(t)
	token := f.register(regBody("n-1", nrn.URL()))
	f.beat(token, "active", "")
	f.beat(f.register(regBody("slow", "")), "degraded", "")
	f.register(regBody("new", ""))

	// One push of each outcome but unchanged (only n-1 can be pushed to).
	f.admin("POST", "/api/admin/configs", `{"target": "fleet", "config": {"batchSize": 1}}`, 201, nil)
	nrn.setAnswer(rejectAll("config.colour: unknown key"))
	f.admin("POST", "/api/admin/configs", `{"target": "n-1", "config": {"colour": "red"}}`, 201, nil)
	nrn.setAnswer(func(map[string]any) (int, any) { return 503, map[string]any{"error": "busy"} })
	f.admin("POST", "/api/admin/configs", `{"target": "n-1", "config": {"batchSize": 2}}`, 201, nil)

	// Two events, then the same report again (a retry): two duplicates.
	events := []map[string]any{{"id": "ev-1", "type": "custom"}, {"id": "ev-2", "type": "custom"}}
	f.report(token, "n-1", events...)
	f.report(token, "n-1", events...)

	f.call("GET", "/api/admin/neurons/nobody", f.opts.AdminToken, nil)
	f.call("GET", "/api/admin/neurons", "", nil)
	f.call("GET", "/api/nothing", "", nil)
	if resp, err := http.Get(f.url + "/"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %v", err)
	} else {
		resp.Body.Close()
	}
	if status, env := f.call("POST", "/metrics", "", nil); status != http.StatusMethodNotAllowed || env.Code != "method_not_allowed" {
		t.Errorf("POST /metrics: %d %s", status, env.Code)
	}

	text := f.scrape()
	for status, want := range map[string]float64{"active": 1, "degraded": 1, "registered": 1, "stale": 1, "offline": 1,
		"draining": 0, "stopping": 0} {
		if got := sample(t, text, "neuron_federation_neurons", "status", status); got != want {
			t.Errorf("neuron_federation_neurons{status=%q} = %v, want %v", status, got, want)
		}
	}
	for outcome, want := range map[string]float64{"applied": 1, "rejected": 1, "failed": 1, "unchanged": 0} {
		if got := sample(t, text, "neuron_federation_pushes_total", "outcome", outcome); got != want {
			t.Errorf("neuron_federation_pushes_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	for result, want := range map[string]float64{"stored": 2, "duplicate": 2} {
		if got := sample(t, text, "neuron_federation_events_total", "result", result); got != want {
			t.Errorf("neuron_federation_events_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	requests := []struct {
		route, code string
		want        float64
	}{
		{"/api/neuron/register", "201", 5},
		{"/api/neuron/status", "200", 4},
		{"/api/analytics/report", "200", 2},
		{"/api/admin/configs", "201", 3},
		{"/api/admin/neurons/{id}", "404", 1},
		{"/api/admin/neurons", "401", 1},
		{"unknown", "404", 1},
		{"dashboard", "200", 1},
		{"/metrics", "405", 1},
	}
	for _, r := range requests {
		if got := sample(t, text, "neuron_federation_requests_total", "route", r.route, "code", r.code); got != r.want {
			t.Errorf("neuron_federation_requests_total{route=%q,code=%q} = %v, want %v", r.route, r.code, got, r.want)
		}
	}
	// The scrape is counted once it is answered.
	if got := sample(t, f.scrape(), "neuron_federation_requests_total", "route", "/metrics", "code", "200"); got != 1 {
		t.Errorf("scrapes counted: %v, want 1", got)
	}
}

// A client that goes away mid-request (its context canceled) is no
// failure of the federation: logged at DEBUG, counted as 499, never 500.
func TestClientGoneIsNotAFailure(t *testing.T) {
	f := newFed(t)
	token := f.register(regBody("n-1", ""))
	cases := []struct {
		name, method, path, token, body string
	}{
		{"poll", "GET", "/api/neuron/config", token, ""},
		{"heartbeat", "POST", "/api/neuron/status", token, `{"status": "active"}`},
		{"admin", "GET", "/api/admin/neurons", f.opts.AdminToken, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // the client is gone
			req := httptest.NewRequestWithContext(ctx, c.method, c.path, strings.NewReader(c.body))
			req.Header.Set("Authorization", "Bearer "+c.token)
			f.s.Handler().ServeHTTP(httptest.NewRecorder(), req)
			text := f.scrape()
			if got := sample(t, text, "neuron_federation_requests_total", "route", c.path, "code", "499"); got != 1 {
				t.Errorf("counted as 499: %v, want 1", got)
			}
			if _, n := testutil.SumSamples(t, text, "neuron_federation_requests_total", "code", "500"); n != 0 {
				t.Errorf("counted as 500")
			}
		})
	}
	logs := f.logs.String()
	if strings.Contains(logs, "level=ERROR") {
		t.Errorf("a client going away is logged as an error:\n%s", logs)
	}
	if n := strings.Count(logs, `level=DEBUG msg="federation request abandoned: the client went away"`); n != len(cases) {
		t.Errorf("%d DEBUG lines about the client going away, want %d:\n%s", n, len(cases), logs)
	}
}
