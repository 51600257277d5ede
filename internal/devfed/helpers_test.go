package devfed

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
)

// clock is a federation clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testInterval is the heartbeat interval of test federations: stale after
// 25s, offline after 50s on the moved clock.
const testInterval = 10 * time.Second

// fed is a development federation under test: real SQLite in a temporary
// directory, real HTTP on loopback, a clock the test moves.
type fed struct {
	t     *testing.T
	opts  Options
	s     *Server
	srv   *httptest.Server
	url   string
	clock *clock
	logs  *testutil.Buffer
}

func newFed(t *testing.T, mods ...func(*Options)) *fed {
	t.Helper()
	f := &fed{t: t, clock: &clock{t: time.Date(2026, 1, 21, 11, 30, 0, 0, time.UTC)}, logs: &testutil.Buffer{}}
	f.opts = Options{DataDir: t.TempDir(), AdminToken: GenerateToken(), HeartbeatInterval: testInterval,
		PushTimeout: 5 * time.Second, Now: f.clock.Now,
		RegisterBurst: 1000, // tests register many times from loopback; limits_test.go sets its own
		Logger:        slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, m := range mods {
		m(&f.opts)
	}
	f.open()
	t.Cleanup(f.close)
	return f
}

func (f *fed) open() {
	f.t.Helper()
	s, err := Open(f.opts)
	if err != nil {
		f.t.Fatalf("Open: %v", err)
	}
	f.s, f.srv = s, httptest.NewServer(s.Handler())
	f.url = f.srv.URL
}

func (f *fed) close() {
	if f.s == nil {
		return
	}
	f.srv.Close()
	if err := f.s.Close(); err != nil {
		f.t.Errorf("Close: %v", err)
	}
	f.s = nil
}

// reopen closes the federation and opens it again on the same data
// directory (a restart; the URL changes).
func (f *fed) reopen() {
	f.t.Helper()
	f.close()
	f.open()
}

// envelope is every answer of the federation's API.
type envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   string          `json:"error"`
	Code    string          `json:"code"`
	Field   string          `json:"field"`
}

// call sends a request with bearer token ("" for none) and body (a
// string or []byte sent as is, anything else as JSON, nil for none), and
// checks that the answer is the JSON envelope.
func (f *fed) call(method, path, token string, body any) (int, envelope) {
	f.t.Helper()
	authorization := ""
	if token != "" {
		authorization = "Bearer " + token
	}
	resp, raw := f.send(method, path, authorization, body)
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		f.t.Fatalf("%s %s: %d answer is not the JSON envelope: %q", method, path, resp.StatusCode, raw)
	}
	if env.Success != (resp.StatusCode < 300) || !env.Success && (env.Error == "" || env.Code == "") {
		f.t.Errorf("%s %s: %d with envelope %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, env
}

// send sends a request with the Authorization header as given ("" for
// none) and body as call takes it, and returns the response, its body
// read and closed, and the body's bytes.
func (f *fed) send(method, path, authorization string, body any) (*http.Response, []byte) {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, f.url+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, raw
}

// must calls and fails the test unless the status is want; it decodes
// data into v (when not nil).
func (f *fed) must(method, path, token string, body any, want int, v any) {
	f.t.Helper()
	status, env := f.call(method, path, token, body)
	if status != want {
		f.t.Fatalf("%s %s: %d %s (%s, field %q), want %d", method, path, status, env.Code, env.Error, env.Field, want)
	}
	if v != nil {
		if err := json.Unmarshal(env.Data, v); err != nil {
			f.t.Fatalf("%s %s: data %s: %v", method, path, env.Data, err)
		}
	}
}

// admin calls the admin API with the admin token.
func (f *fed) admin(method, path string, body any, want int, v any) {
	f.t.Helper()
	f.must(method, path, f.opts.AdminToken, body, want, v)
}

// regBody is a registration of id served at baseURL ("" for none).
func regBody(id, baseURL string) map[string]any {
	b := map[string]any{"neuronId": id, "name": "Neuron " + id, "type": "wasm-processor", "language": "wasm",
		"version": "1.0.0", "healthcheckEndpoint": "/health",
		"apiEndpoints": []any{map[string]any{"path": "/process", "method": "POST", "description": "Process a batch"}},
		"metadata":     map[string]any{"processors": "data-processor@1.1.0+sha256:abcd, hello@1.0.0"}}
	if baseURL != "" {
		b["baseUrl"] = baseURL
	}
	return b
}

// register registers body and returns the token.
func (f *fed) register(body map[string]any) string {
	f.t.Helper()
	return f.reregister(body, "")
}

// reregister registers body presenting token (the id's current one, to
// register a live id again; "" for none) and returns the new token.
func (f *fed) reregister(body map[string]any, token string) string {
	f.t.Helper()
	var out struct {
		Token             string  `json:"token"`
		NeuronID          string  `json:"neuronId"`
		HeartbeatInterval float64 `json:"heartbeatInterval"`
	}
	f.must("POST", "/api/neuron/register", token, body, http.StatusCreated, &out)
	if out.Token == "" || out.NeuronID != body["neuronId"] || out.HeartbeatInterval != testInterval.Seconds() {
		f.t.Fatalf("register answer %+v", out)
	}
	return out.Token
}

// beatBody is a heartbeat with status and configVersion.
func beatBody(status, configVersion string) map[string]any {
	return map[string]any{"status": status, "healthScore": 95, "uptime": 3600, "processId": "12345",
		"hostInfo":           map[string]any{"hostname": "h1", "ip": "10.0.1.50", "pid": 12345},
		"systemMetrics":      map[string]any{"cpuUsage": 45.2, "memoryUsage": 68.5, "diskUsage": 25.3},
		"applicationMetrics": map[string]any{"requestsPerSecond": 150.5, "averageResponseTime": 250, "activeConnections": 12, "queueSize": 5},
		"dependencyStatus":   map[string]any{"postgresql": "healthy"},
		"performanceMetrics": map[string]any{"successRate": 99.8, "errorCount": 2, "warningCount": 0},
		"configVersion":      configVersion, "buildVersion": "build-456"}
}

// beat sends a heartbeat.
func (f *fed) beat(token, status, configVersion string) {
	f.t.Helper()
	f.must("POST", "/api/neuron/status", token, beatBody(status, configVersion), http.StatusOK, nil)
}

// events sends an analytics report of neuron id carrying events.
func (f *fed) report(token, id string, events ...map[string]any) (accepted, dups int) {
	f.t.Helper()
	var out struct{ Events, Duplicates int }
	body := map[string]any{"neuronId": id, "metrics": map[string]any{"totalRequests": 10}, "events": events}
	f.must("POST", "/api/analytics/report", token, body, http.StatusOK, &out)
	return out.Events, out.Duplicates
}

// poll is the neuron's GET /api/neuron/config: the effective update's
// JSON ("{}" when there is nothing for the neuron).
func (f *fed) poll(token string) string {
	f.t.Helper()
	_, env := f.call("GET", "/api/neuron/config", token, nil)
	return string(env.Data)
}

// neuronDetail reads GET /api/admin/neurons/{id}.
func (f *fed) neuron(id string) neuronDetail {
	f.t.Helper()
	var d neuronDetail
	f.admin("GET", "/api/admin/neurons/"+id, nil, http.StatusOK, &d)
	return d
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
