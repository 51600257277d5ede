package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/agent"
	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/internal/testutil"
)

// These tests run whole agents: configuration from arguments and a YAML
// file, the runtime loading real processors built from examples/, and the
// HTTP server, exercised over loopback with a real client. Each agent start
// loads (and, on a cold cache, compiles) its modules, so the tests start
// few agents and check much on each.

// waitLimit bounds every wait, so that a bug shows up as a failure rather
// than a hang. It is never an assertion on speed: a sync that compiles
// new modules from a cold cache under the race detector, one compilation
// at a time on a loaded machine, takes tens of seconds.
const waitLimit = 60 * time.Second

// sharedCache is the compilation cache the runtime tests use too: wazero's
// file cache is safe for concurrent processes, and a warm cache turns each
// load from seconds of compiling into milliseconds. The agent has no
// option for it, so each test's data directory links its cache there.
var sharedCache = filepath.Join(os.TempDir(), "neuron-test-cache")

// dataDir returns a fresh data directory whose compilation cache is the
// shared one when the system allows symbolic links.
func dataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(sharedCache, 0o750); err != nil {
		t.Logf("no shared compilation cache (%v): compiling afresh", err)
		return dir
	}
	if err := os.Symlink(sharedCache, filepath.Join(dir, "cache")); err != nil {
		t.Logf("no shared compilation cache (%v): compiling afresh", err)
	}
	return dir
}

// pluginsDir returns a fresh plugins directory holding, for each file name,
// the module built from the package files[name] (relative to the
// repository root), or the literal bytes of a name ending in ".junk".
func pluginsDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "plugins")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, pkg := range files {
		var b []byte
		if junk, ok := strings.CutSuffix(pkg, ".junk"); ok {
			b = []byte(junk)
		} else {
			var err error
			if b, err = os.ReadFile(testutil.BuildWasm(t, pkg)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// noEnv is an empty environment, so that the NEURON_* variables of
// whoever runs the tests change nothing.
func noEnv(string) (string, bool) { return "", false }

// neuron is one agent under test with a client for it.
type neuron struct {
	a      *agent.Agent
	stop   func() error // a.Stop, once; later calls fail
	log    *testutil.Buffer
	base   string // http://host:port
	client *http.Client
}

// start loads the configuration from args with no environment and starts an
// agent on it. The agent is stopped when the test ends, unless the test
// stopped it.
func start(t *testing.T, args ...string) *neuron {
	t.Helper()
	return startEnv(t, noEnv, args...)
}

// startEnv is start with the environment lookupEnv.
func startEnv(t *testing.T, lookupEnv func(string) (string, bool), args ...string) *neuron {
	t.Helper()
	cfg, err := config.Load(args, lookupEnv)
	if err != nil {
		t.Fatalf("config.Load(%q): %v", args, err)
	}
	logs := &testutil.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", logs)
		}
	})
	a, err := agent.Start(context.Background(), cfg, logs)
	if err != nil {
		t.Fatalf("agent.Start: %v", err)
	}
	var once sync.Once
	stop := func() error {
		err := errors.New("already stopped")
		once.Do(func() { err = a.Stop() })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &neuron{a: a, stop: stop, log: logs, base: "http://" + a.Addr().String(), client: &http.Client{Transport: tr, Timeout: waitLimit}}
}

// reply is a response read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request and reads the whole response. A body that is a string
// is sent as JSON.
func (n *neuron) do(t *testing.T, method, path, body string) reply {
	t.Helper()
	r, err := n.send(context.Background(), method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// send is do returning the error, for use off the test's goroutine.
func (n *neuron) send(ctx context.Context, method, path, body string) (reply, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, n.base+path, rd)
	if err != nil {
		return reply{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, err
}

// decode decodes the body as JSON into v, failing the test if it is not.
func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json (body %.200q)", ct, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("status %d body %.300q: %v", r.status, r.body, err)
	}
}

// apiError is the neuron's JSON error body.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// wantError checks that r is an error response with status and code.
func (r reply) wantError(t *testing.T, what string, status int, code string) apiError {
	t.Helper()
	var e apiError
	if r.status != status {
		t.Errorf("%s: status %d body %.300s; want %d %s", what, r.status, r.body, status, code)
		return e
	}
	r.decode(t, &e)
	if e.Code != code || e.Error == "" {
		t.Errorf("%s: error body %s; want code %q and a message", what, r.body, code)
	}
	return e
}

// wantPlugin checks the header naming the processor version that served r.
func (r reply) wantPlugin(t *testing.T, what, want string) {
	t.Helper()
	if got := r.header.Get("X-Neuron-Plugin"); got != want {
		t.Errorf("%s: X-Neuron-Plugin %q, want %q", what, got, want)
	}
}

// metric scrapes /metrics and returns the sum of the samples of name whose
// labels include the given name/value pairs, and how many there were.
func (n *neuron) metric(t *testing.T, name string, labels ...string) (float64, int) {
	t.Helper()
	r := n.do(t, "GET", "/metrics", "")
	if r.status != http.StatusOK {
		t.Fatalf("/metrics: status %d", r.status)
	}
	return testutil.SumSamples(t, string(r.body), name, labels...)
}

// writeFile writes a file in a fresh directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// batchSize is the data processor's batch limit in TestAgent's config file.
const batchSize = 4

// agentConfig is TestAgent's configuration file: the flat settings say one
// batch size, the data processor's own settings another, which wins; the
// loop guest gets a short call timeout of its own.
var agentConfig = fmt.Sprintf(`
settings:
  batchSize: 100
plugins:
  data-processor:
    batchSize: %d
pluginLimits:
  loop:
    callTimeout: 1s
shutdownTimeout: 10s
`, batchSize)

// TestAgent runs one agent serving the example processors (both versions
// of the data processor), the loop test guest and a file that is not a
// module, and checks its whole HTTP surface, then its shutdown with a call
// in flight.
func TestAgent(t *testing.T) {
	plugins := pluginsDir(t, map[string]string{
		"hello.wasm":                "examples/hello",
		"data-processor-1.0.0.wasm": "examples/dataprocessor/v1.0.0",
		"data-processor-1.1.0.wasm": "examples/dataprocessor/v1.1.0",
		"loop.wasm":                 "runtime/testdata/guests/loop",
		"broken.wasm":               "this is not a module.junk",
	})
	n := start(t, "--listen", "127.0.0.1:0", "--plugins-dir", plugins, "--data-dir", dataDir(t),
		"--log-level", "debug", "--config", writeFile(t, "neuron.yaml", agentConfig))

	t.Run("hello", func(t *testing.T) {
		r := n.do(t, "GET", "/hello/world", "")
		if r.status != http.StatusOK {
			t.Fatalf("status %d body %s", r.status, r.body)
		}
		var got map[string]string
		r.decode(t, &got)
		if want := map[string]string{"message": "Hello, world!", "name": "world"}; !reflect.DeepEqual(got, want) {
			t.Errorf("body %v, want %v", got, want)
		}
		r.wantPlugin(t, "GET /hello/world", "hello@1.0.0")
	})

	// A batch with a valid record, an email duplicate (which only 1.1.0
	// finds), an id duplicate and an invalid record.
	const batch = `{"batchId": "b-1", "records": [
		{"id": "c1", "email": "ada@example.com", "name": "Ada"},
		{"id": "c2", "email": " ADA@Example.com "},
		{"id": "c1", "email": "other@example.com"},
		{"id": "c3", "email": "not-an-email"}
	]}`
	t.Run("process", func(t *testing.T) {
		r := n.do(t, "POST", "/process", batch)
		if r.status != http.StatusOK {
			t.Fatalf("status %d body %s", r.status, r.body)
		}
		r.wantPlugin(t, "POST /process", "data-processor@1.1.0") // the highest version serves
		var got struct {
			BatchID          string  `json:"batchId"`
			RecordsReceived  int     `json:"recordsReceived"`
			RecordsProcessed int     `json:"recordsProcessed"`
			DuplicatesFound  int     `json:"duplicatesFound"`
			InvalidRecords   int     `json:"invalidRecords"`
			Version          string  `json:"version"`
			ProcessingTime   float64 `json:"processingTime"`
			Invalid          []map[string]any
			Duplicates       []map[string]any
		}
		r.decode(t, &got)
		if got.BatchID != "b-1" || got.RecordsReceived != 4 || got.RecordsProcessed != 1 || got.DuplicatesFound != 2 ||
			got.InvalidRecords != 1 || got.Version != "1.1.0" || got.ProcessingTime < 0 {
			t.Errorf("answer %s; want batch b-1 by 1.1.0: 4 received, 1 processed, 2 duplicates, 1 invalid", r.body)
		}
		wantInvalid := []map[string]any{{"index": 3.0, "id": "c3", "reason": `"email" is not a valid address`}}
		wantDup := []map[string]any{
			{"index": 1.0, "id": "c2", "of": 0.0, "by": "email"},
			{"index": 2.0, "id": "c1", "of": 0.0, "by": "id"},
		}
		if !reflect.DeepEqual(got.Invalid, wantInvalid) || !reflect.DeepEqual(got.Duplicates, wantDup) {
			t.Errorf("details: invalid %v duplicates %v\nwant invalid %v duplicates %v", got.Invalid, got.Duplicates, wantInvalid, wantDup)
		}
	})

	t.Run("process errors", func(t *testing.T) {
		for _, tc := range []struct {
			name, body string
			status     int
			code       string
		}{
			{"malformed JSON", `{"batchId": "b-2", "records": [`, http.StatusBadRequest, "bad_request"},
			{"no batchId", `{"records": []}`, http.StatusBadRequest, "bad_request"},
			{"over batchSize", `{"batchId": "b-3", "records": [{}, {}, {}, {}, {}]}`, http.StatusRequestEntityTooLarge, "batch_too_large"},
		} {
			r := n.do(t, "POST", "/process", tc.body)
			e := r.wantError(t, tc.name, tc.status, tc.code)
			r.wantPlugin(t, tc.name, "data-processor@1.1.0")
			if tc.code == "batch_too_large" && !strings.Contains(e.Error, "the limit (batchSize) is 4") {
				t.Errorf("%s: message %q does not give the limit of the processor's own settings", tc.name, e.Error)
			}
		}
		// Exactly batchSize records are accepted.
		r := n.do(t, "POST", "/process", `{"batchId": "b-4", "records": [{}, {}, {}, {}]}`)
		if r.status != http.StatusOK {
			t.Errorf("a batch of exactly batchSize records: status %d body %s", r.status, r.body)
		}
	})

	t.Run("status", func(t *testing.T) {
		r := n.do(t, "GET", "/status", "")
		if r.status != http.StatusOK {
			t.Fatalf("status %d body %s", r.status, r.body)
		}
		r.wantPlugin(t, "GET /status", "data-processor@1.1.0")
		var got struct {
			Processor string          `json:"processor"`
			Version   string          `json:"version"`
			Status    string          `json:"status"`
			Features  map[string]bool `json:"features"`
			Config    struct {
				BatchSize int `json:"batchSize"`
			} `json:"config"`
		}
		r.decode(t, &got)
		if got.Processor != "data-processor" || got.Version != "1.1.0" || got.Status != "ready" ||
			!got.Features["dedupByEmail"] || !got.Features["details"] || got.Config.BatchSize != batchSize {
			t.Errorf("status %s; want data-processor 1.1.0 ready, both features, batchSize %d", r.body, batchSize)
		}
	})

	t.Run("not found", func(t *testing.T) {
		for _, path := range []string{"/nope", "/hello", "/hello/a/b", "/t/loop"} {
			r := n.do(t, "GET", path, "")
			r.wantError(t, "GET "+path, http.StatusNotFound, "not_found")
			if h := r.header.Get("X-Neuron-Plugin"); h != "" {
				t.Errorf("GET %s: X-Neuron-Plugin %q on a response no processor served", path, h)
			}
		}
	})

	t.Run("method not allowed", func(t *testing.T) {
		for _, tc := range []struct{ method, path string }{
			{"GET", "/process"}, {"POST", "/hello/world"}, {"DELETE", "/status"},
		} {
			r := n.do(t, tc.method, tc.path, "")
			r.wantError(t, tc.method+" "+tc.path, http.StatusMethodNotAllowed, "method_not_allowed")
		}
	})

	t.Run("health", func(t *testing.T) {
		r := n.do(t, "GET", "/health", "")
		if r.status != http.StatusOK {
			t.Fatalf("status %d body %s", r.status, r.body)
		}
		var got struct {
			Status       string            `json:"status"`
			Dependencies map[string]string `json:"dependencies"`
			Uptime       *int64            `json:"uptime"`
			Processors   map[string]string `json:"processors"`
		}
		r.decode(t, &got)
		want := map[string]string{
			"hello@1.0.0":          "serving",
			"data-processor@1.0.0": "standby",
			"data-processor@1.1.0": "serving",
			"loop@1.0.0":           "serving",
		}
		if got.Status != "healthy" || got.Dependencies == nil || got.Uptime == nil || *got.Uptime < 0 ||
			!reflect.DeepEqual(got.Processors, want) {
			t.Errorf("health %s; want healthy with processors %v", r.body, want)
		}
	})

	t.Run("ready", func(t *testing.T) {
		r := n.do(t, "GET", "/ready", "")
		var got map[string]string
		r.decode(t, &got)
		if r.status != http.StatusOK || got["status"] != "ready" {
			t.Errorf("/ready: %d %s", r.status, r.body)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		// Two batches were processed: b-1 (1 record kept, 2 duplicates)
		// and b-4 (4 invalid records).
		for _, tc := range []struct {
			name string
			want float64
		}{{"recordsProcessed", 1}, {"duplicatesFound", 2}, {"batchesCompleted", 2}} {
			v, k := n.metric(t, "neuron_plugin_custom_total", "plugin", "data-processor", "version", "1.1.0", "name", tc.name)
			if k != 1 || v != tc.want {
				t.Errorf("neuron_plugin_custom_total{name=%q} = %v in %d series, want %v", tc.name, v, k, tc.want)
			}
		}
		if v, k := n.metric(t, "neuron_plugin_custom_total", "version", "1.0.0"); k != 0 {
			t.Errorf("the standby version has custom metrics: %v in %d series", v, k)
		}
		for _, tc := range []struct {
			status string
			want   float64
		}{{"200", 2}, {"400", 2}, {"413", 1}} {
			v, _ := n.metric(t, "neuron_requests_total", "plugin", "data-processor", "version", "1.1.0",
				"method", "POST", "route", "/process", "status", tc.status)
			if v != tc.want {
				t.Errorf("neuron_requests_total{route=\"/process\",status=%q} = %v, want %v", tc.status, v, tc.want)
			}
		}
		// The router answers 404 and 405 itself: no processor, no series.
		for _, status := range []string{"404", "405"} {
			if v, k := n.metric(t, "neuron_requests_total", "status", status); k != 0 {
				t.Errorf("neuron_requests_total{status=%q} = %v in %d series; want none", status, v, k)
			}
		}
		if v, _ := n.metric(t, "neuron_requests_total", "plugin", "hello", "route", "/hello/{name}", "status", "200"); v != 1 {
			t.Errorf("neuron_requests_total for hello = %v, want 1", v)
		}
		if v, k := n.metric(t, "neuron_plugins_rejected_total"); k != 1 || v != 1 {
			t.Errorf("neuron_plugins_rejected_total = %v in %d series, want 1 (broken.wasm)", v, k)
		}
		if _, k := n.metric(t, "go_goroutines"); k != 1 {
			t.Errorf("/metrics lacks the Go collector's go_goroutines")
		}
	})

	t.Run("logs", func(t *testing.T) {
		logs := n.log.String()
		for _, want := range []string{
			`msg="neuron listening" addr=` + n.a.Addr().String(),
			`msg="processor rejected" file=broken.wasm plugin="" version="" reason="not a WebAssembly module`,
			`level=DEBUG`, // --log-level debug
		} {
			if !strings.Contains(logs, want) {
				t.Errorf("log lacks %q", want)
			}
		}
	})

	// Stop with a call in flight: the call ends at its own deadline and
	// its caller gets the whole answer; then the listener is gone.
	spin := make(chan reply, 1)
	sent := time.Now() // the call starts after this, and lasts its 1s timeout
	go func() {
		r, err := n.send(context.Background(), "GET", "/t/loop/spin", "")
		if err != nil {
			r.status, r.body = -1, []byte(err.Error())
		}
		spin <- r
	}()
	testutil.Eventually(t, waitLimit, "the spin to hold an instance", func() bool {
		for _, p := range n.a.Runtime().Processors() {
			if p.Name == "loop" {
				return p.Pool.Busy == 1
			}
		}
		return false
	})
	if err := n.stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	// Stop waited for the call only if it returned a whole call timeout
	// after the call was sent: a bound a slow machine cannot break.
	took := time.Since(sent)
	r := <-spin
	if r.status != http.StatusGatewayTimeout {
		t.Errorf("the call in flight at Stop got %d %s; want its own 504 timeout", r.status, r.body)
	} else {
		r.wantError(t, "the call in flight at Stop", http.StatusGatewayTimeout, "timeout")
	}
	if took < time.Second {
		t.Errorf("Stop returned %v after the call in flight was sent, before its 1s timeout could end it", took)
	}
	if n.a.Runtime().Ready() {
		t.Errorf("Runtime().Ready() after Stop")
	}
	if c, err := net.DialTimeout("tcp", n.a.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Errorf("a connection to %s was accepted after Stop", n.a.Addr())
	}
	if !strings.Contains(n.log.String(), `msg="shutting down" timeout=10s`) {
		t.Errorf("log lacks the shutdown message with the configured timeout")
	}
}

// TestAgent_NoPluginsDir starts an agent whose plugins directory does not
// exist: it serves its own routes, logs why there are no processors, and is
// not ready, since no plugins were loaded.
func TestAgent_NoPluginsDir(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	n := start(t, "--listen", "127.0.0.1:0", "--plugins-dir", missing, "--data-dir", dataDir(t))

	if r := n.do(t, "GET", "/ready", ""); r.status != http.StatusServiceUnavailable {
		t.Errorf("/ready: %d %s; want 503 while no plugins are loaded", r.status, r.body)
	}
	r := n.do(t, "GET", "/health", "")
	var health struct {
		Status     string            `json:"status"`
		Processors map[string]string `json:"processors"`
	}
	r.decode(t, &health)
	if r.status != http.StatusOK || health.Status != "healthy" || health.Processors == nil || len(health.Processors) != 0 {
		t.Errorf("/health: %d %s; want 200, healthy, no processors", r.status, r.body)
	}
	if r := n.do(t, "GET", "/metrics", ""); r.status != http.StatusOK {
		t.Errorf("/metrics: %d", r.status)
	}
	n.do(t, "GET", "/hello/world", "").wantError(t, "GET /hello/world", http.StatusNotFound, "not_found")

	logs := n.log.String()
	if !strings.Contains(logs, `level=ERROR msg="plugins directory not readable`) || !strings.Contains(logs, missing) {
		t.Errorf("log does not report the missing plugins directory %s", missing)
	}
	if err := n.stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

// TestAgent_AddressInUse starts an agent on an address another listener
// holds: Start fails, naming the address.
func TestAgent_AddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	cfg, err := config.Load([]string{"--listen", addr, "--plugins-dir", t.TempDir(), "--data-dir", dataDir(t)}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.Start(context.Background(), cfg, io.Discard)
	if err == nil {
		a.Stop()
		t.Fatalf("Start on %s, which is in use, succeeded", addr)
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "NEURON_LISTEN") {
		t.Errorf("Start: %v; want an error naming %s and how to choose another address", err, addr)
	}
}

// TestRun stops a neuron by ending its context, as a signal does.
func TestRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg, err := config.Load([]string{"--listen", addr, "--plugins-dir", t.TempDir(), "--data-dir", dataDir(t)}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &testutil.Buffer{}
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx, cfg, logs) }()

	client := &http.Client{Timeout: waitLimit}
	testutil.Eventually(t, waitLimit, "the neuron to be ready", func() bool {
		resp, err := client.Get("http://" + addr + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after its context ended")
	}
	if !strings.Contains(logs.String(), `msg="shutting down"`) {
		t.Errorf("log lacks the shutdown message:\n%s", logs)
	}
}
