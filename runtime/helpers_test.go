package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/empirefederation/neuron/internal/serve"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
	"github.com/empirefederation/neuron/sdk/abi"
)

// The test guests live in runtime/testdata/guests/NAME; each main.go says in
// its first line what it demonstrates. They are built with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o NAME.wasm .
//
// by testutil.BuildWasm, once per test binary and cached across runs.
const guestsDir = "runtime/testdata/guests"

// cacheDir is the compilation cache every test shares, across packages and
// runs: wazero's file cache is safe for concurrent processes, and a warm
// cache turns each load from seconds of compiling into milliseconds.
var cacheDir = filepath.Join(os.TempDir(), "neuron-test-cache")

// prepared is the cache of prepared modules the runtimes of newEnv share
// unless the test gives one: each test guest is prepared once per test
// binary, not once per test.
var prepared = runtime.NewPreparedModules()

// waitLimit bounds every wait, so that a bug shows up as a failure rather
// than a hang. It is never an assertion on speed: a sync that compiles
// new modules from a cold cache under the race detector, one compilation
// at a time on a loaded machine, takes tens of seconds.
const waitLimit = 60 * time.Second

// guest returns the bytes of the built test guest name.
func guest(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(testutil.BuildWasm(t, guestsDir+"/"+name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sidecar returns the sidecar manifest that ships with guest name.
func sidecar(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), guestsDir, name, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// guests returns the plugin files of the named guests, each as NAME.wasm,
// ready for newEnv. nomanifest comes with its sidecar.
func guests(t testing.TB, names ...string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, name := range names {
		files[name+".wasm"] = guest(t, name)
		if name == "nomanifest" {
			files[name+".json"] = sidecar(t, name)
		}
	}
	return files
}

// watPlugin returns the plugin files FILE.wasm, assembled from the
// hand-written module testdata/WAT.wat, and its sidecar manifest FILE.json:
// processor FILE@1.0.0 with one endpoint GET /w/FILE/EXPORT for each
// export given, and limits, a JSON object or "" for none. Ready for
// newEnv; merge several with maps.Copy. The .wat modules play careless or
// hostile authors next to a healthy one (testdata/ok.wat).
func watPlugin(t testing.TB, file, wat, limits string, exports ...string) map[string][]byte {
	t.Helper()
	m := map[string]any{"name": file, "version": "1.0.0"}
	eps := []abi.Endpoint{}
	for _, x := range exports {
		eps = append(eps, abi.Endpoint{Method: "GET", Path: "/w/" + file + "/" + x, Export: x})
	}
	m["endpoints"] = eps
	if limits != "" {
		m["limits"] = json.RawMessage(limits)
	}
	manifest, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		file + ".wasm": testutil.Wat(t, filepath.Join("testdata", wat+".wat")),
		file + ".json": manifest,
	}
}

// env is one runtime serving a private plugins directory over real HTTP on
// loopback, through the neuron's own handler (so /health, /ready and
// /metrics answer too), with its logs and events recorded.
type env struct {
	t      testing.TB
	rt     *runtime.Runtime
	srv    *httptest.Server
	client *http.Client
	reg    *prometheus.Registry
	logs   *logSink
	events *eventLog
	dir    string // the plugins directory
}

// newEnv writes files into a fresh plugins directory and starts a runtime
// on it with opts, whose directories, logger, registry and event sink it
// fills in. It does not load the directory; startEnv does. Everything is
// closed when the test ends.
func newEnv(t testing.TB, opts runtime.Options, files map[string][]byte) *env {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "plugins")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return newEnvIn(t, opts, dir)
}

// newEnvIn is newEnv on an existing plugins directory.
func newEnvIn(t testing.TB, opts runtime.Options, dir string) *env {
	t.Helper()
	e := &env{t: t, reg: prometheus.NewRegistry(), logs: newLogSink(t), events: &eventLog{}, dir: dir}
	opts.PluginsDir = e.dir
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	opts.CacheDir = cacheDir
	if opts.Prepared == nil {
		opts.Prepared = prepared
	}
	opts.Logger = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Registerer = e.reg
	opts.Events = e.events.record
	rt, err := runtime.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("runtime.New: %v", err)
	}
	e.rt = rt
	t.Cleanup(func() {
		if err := rt.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	e.srv = httptest.NewServer(serve.Handler(rt, e.reg, serve.Options{Started: time.Now()}))
	t.Cleanup(e.srv.Close) // runs before rt.Close: no handler is left running
	tr := e.srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	t.Cleanup(tr.CloseIdleConnections)
	e.client = &http.Client{Transport: tr, Timeout: waitLimit}
	return e
}

// startEnv is newEnv followed by LoadDir.
func startEnv(t testing.TB, opts runtime.Options, files map[string][]byte) *env {
	t.Helper()
	e := newEnv(t, opts, files)
	if err := e.rt.LoadDir(context.Background()); err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	return e
}

// run runs f as subtest name of t with a copy of e whose helpers fail the
// subtest, not t: FailNow must come from the failing test's goroutine.
func (e *env) run(t *testing.T, name string, f func(t *testing.T, e *env)) bool {
	return t.Run(name, func(t *testing.T) {
		c := *e
		c.t = t
		f(t, &c)
	})
}

// reply is a response read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// apiError is the runtime's JSON error body.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// apiError decodes the body as the runtime's error body, failing the test
// when it is not one.
func (r reply) apiError(t testing.TB) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(r.body, &e); err != nil || e.Code == "" {
		t.Fatalf("status %d body %.200q is not an error body (%v)", r.status, r.body, err)
	}
	return e
}

// do sends a request with the given header name/value pairs and reads the
// whole response. A nil body sends none; an io.Reader that is not a
// *bytes.Reader, *bytes.Buffer or *strings.Reader is sent chunked.
func (e *env) do(method, path string, body io.Reader, header ...string) reply {
	e.t.Helper()
	r, err := e.send(context.Background(), method, path, body, header...)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// send is do returning the error, for use off the test's goroutine.
func (e *env) send(ctx context.Context, method, path string, body io.Reader, header ...string) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, method, e.srv.URL+path, body)
	if err != nil {
		return reply{}, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, err
}

func (e *env) get(path string, header ...string) reply {
	e.t.Helper()
	return e.do(http.MethodGet, path, nil, header...)
}

// processor returns the loaded processor name, failing the test if none.
func (e *env) processor(name string) runtime.ProcessorInfo {
	e.t.Helper()
	for _, p := range e.rt.Processors() {
		if p.Name == name {
			return p
		}
	}
	e.t.Fatalf("processor %s is not loaded", name)
	return runtime.ProcessorInfo{}
}

// metric scrapes /metrics and returns the sum of the samples of name whose
// labels include the given name/value pairs, and how many there were.
func (e *env) metric(name string, labels ...string) (float64, int) {
	e.t.Helper()
	r := e.get("/metrics")
	if r.status != http.StatusOK {
		e.t.Fatalf("/metrics: status %d", r.status)
	}
	return testutil.SumSamples(e.t, string(r.body), name, labels...)
}

// mustMetric is metric failing the test when no sample matches.
func (e *env) mustMetric(name string, labels ...string) float64 {
	e.t.Helper()
	v, n := e.metric(name, labels...)
	if n == 0 {
		e.t.Fatalf("/metrics has no %s with labels %q", name, labels)
	}
	return v
}

// logSink receives the runtime's JSON log: each record is passed to t.Log
// and kept for assertions.
type logSink struct {
	mu      sync.Mutex
	t       testing.TB
	done    bool // the test has ended: t.Log would panic
	records []map[string]any
}

func newLogSink(t testing.TB) *logSink {
	s := &logSink{t: t}
	t.Cleanup(func() { // registered first, so it runs last
		s.mu.Lock()
		s.done = true
		s.mu.Unlock()
	})
	return s
}

func (s *logSink) Write(p []byte) (int, error) {
	var rec map[string]any
	err := json.Unmarshal(p, &rec)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.records = append(s.records, rec)
	}
	if !s.done {
		s.t.Log(string(bytes.TrimSpace(p)))
	}
	return len(p), nil
}

// find returns the records with message msg whose attributes include the
// given key/value pairs; a value matches by its fmt %v form.
func (s *logSink) find(msg string, attrs ...string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []map[string]any
	for _, rec := range s.records {
		if rec["msg"] != msg {
			continue
		}
		match := true
		for i := 0; i+1 < len(attrs); i += 2 {
			v, ok := rec[attrs[i]]
			match = match && ok && toString(v) == attrs[i+1]
		}
		if match {
			found = append(found, rec)
		}
	}
	return found
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// eventLog records the runtime's events.
type eventLog struct {
	mu     sync.Mutex
	events []runtime.Event
}

func (l *eventLog) record(e runtime.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

// ofType returns the events of type typ, in order.
func (l *eventLog) ofType(typ string) []runtime.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []runtime.Event
	for _, e := range l.events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// eventData decodes an event's data as a string map.
func eventData(t testing.TB, e runtime.Event) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(e.Data, &m); err != nil {
		t.Fatalf("event %s data %s: %v", e.Type, e.Data, err)
	}
	return m
}
