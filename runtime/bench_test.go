package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/empirefederation/neuron/examples/dataprocessor/process"
	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/processor"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/sdk/abi"
)

// The benchmarks of a call measure, in one run, three ways of answering the
// same request in process (no network):
//
//   - serve: the neuron's whole request path: routing, body, pool checkout,
//     the guest call, response checks, metrics;
//   - guest: the guest's share alone: the same encoded request handed
//     straight to the handler export of one instance;
//   - native: a native Go handler doing the same work behind gorilla/mux.
//
// They report host-ns/call = serve − guest, the cost the neuron adds to a
// call (target ≤ 1500), and serve/native, the slowdown against native Go.
// Run with `make bench` or:
//
//	go test -run '^$' -bench 'Call' -benchtime 2s ./runtime/
func BenchmarkCall(b *testing.B) {
	cases := []struct {
		name, pkg, method, path string
		body                    []byte
		native                  http.HandlerFunc
		route                   string
	}{
		{"hello", "examples/hello", "GET", "/hello/world", nil, nativeHello, "/hello/{name}"},
		{"process", "examples/dataprocessor/v1.0.0", "POST", "/process", benchBatch(10), nativeProcess, "/process"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			rt := benchRuntime(b, testutil.BuildWasm(b, c.pkg))
			native := mux.NewRouter()
			native.Methods(c.method).Path(c.route).Handler(c.native)
			// One request and one writer, reset between runs, so that the
			// harness's allocations count against neither side.
			body := bytes.NewReader(c.body)
			req, _ := http.NewRequest(c.method, c.path, io.NopCloser(body))
			req.Header.Set("Content-Type", "application/json")
			w := newWriter()
			run := func(h http.Handler) func() {
				return func() {
					body.Reset(c.body)
					clear(w.h)
					h.ServeHTTP(w, req)
				}
			}
			serve := measure(b, run(rt))
			nat := measure(b, run(native))
			guest := measure(b, guestCall(b, rt, c.method, c.path, c.route, c.body))
			b.ReportMetric(float64(serve.Nanoseconds()), "serve-ns/call")
			b.ReportMetric(float64(guest.Nanoseconds()), "guest-ns/call")
			b.ReportMetric(float64(nat.Nanoseconds()), "native-ns/call")
			b.ReportMetric(float64((serve - guest).Nanoseconds()), "host-ns/call")
			b.ReportMetric(float64(serve)/float64(nat), "serve/native")
		})
	}
}

// measure runs f b.N times and returns the time per run.
func measure(b *testing.B, f func()) time.Duration {
	f() // warm
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		f()
	}
	return time.Since(start) / time.Duration(b.N)
}

// guestCall returns a function that hands one encoded request to the
// handler export of an instance of the processor serving method and
// pattern, for path.
func guestCall(b *testing.B, rt *Runtime, method, path, pattern string, body []byte) func() {
	var p *processor.Version
	var ep abi.Endpoint
	for _, q := range rt.srv.Current.Load().Procs {
		if i := slices.IndexFunc(q.Mod.Manifest.Endpoints, func(e abi.Endpoint) bool { return e.Method == method && e.Path == pattern }); i >= 0 {
			p, ep = q, q.Mod.Manifest.Endpoints[i]
		}
	}
	r, _ := http.NewRequest(method, path, nil)
	var m mux.RouteMatch
	if p == nil || !mux.NewRouter().Path(pattern).Match(r, &m) {
		b.Fatalf("no route for %s %s", method, path)
	}
	req := abi.Request{Method: method, Path: path, Route: pattern, Body: body,
		Header: []abi.Pair{{Name: "Content-Type", Value: "application/json"}}}
	for _, name := range modfile.RouteVars(pattern) {
		req.Vars = append(req.Vars, abi.Pair{Name: name, Value: m.Vars[name]})
	}
	msg := abi.AppendRequest(nil, &req)
	in, err := p.Pool.Get(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Pool.Put(in) })
	fn := slices.Index(p.Exports, ep.Export)
	var out []byte
	return func() {
		resp, cerr := in.Call(fn, msg, time.Minute, 1<<20, out[:0])
		if cerr != nil || resp.Status != http.StatusOK {
			b.Fatalf("guest call: %v (status %d)", cerr, resp.Status)
		}
		out = resp.Body
	}
}

func benchRuntime(b *testing.B, wasm string, with ...func(*Options)) *Runtime {
	dir := b.TempDir()
	bin, err := os.ReadFile(wasm)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(wasm)), bin, 0o600); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	opts := Options{PluginsDir: dir, DataDir: b.TempDir(), CacheDir: filepath.Join(os.TempDir(), "neuron-test-cache"),
		Logger: slog.New(slog.DiscardHandler)}
	for _, f := range with {
		f(&opts)
	}
	rt, err := New(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rt.Close(ctx) })
	if err := rt.LoadDir(ctx); err != nil || len(rt.Processors()) != 1 {
		b.Fatalf("load %s: %v", wasm, err)
	}
	return rt
}

// discardWriter is a ResponseWriter that keeps headers and drops the body,
// so the benchmarks measure the handlers, not a recorder.
type discardWriter struct{ h http.Header }

func newWriter() *discardWriter                      { return &discardWriter{h: http.Header{}} }
func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// nativeHello is examples/hello written as a native handler.
func nativeHello(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Message string `json:"message"`
		Name    string `json:"name"`
	}{"Hello, " + name + "!", name})
}

// nativeProcess is data-processor 1.0.0's POST /process as a native handler.
func nativeProcess(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var b process.Batch
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	opts := process.Options{Version: "1.0.0"}
	res := process.Process(b, opts, process.DefaultMaxDetails)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(process.Answer{Result: res, Version: opts.Version,
		ProcessingTime: float64(time.Since(start).Microseconds()) / 1000})
}

// benchBatch is a POST /process body of n records, one a duplicate.
func benchBatch(n int) []byte {
	recs := make([]map[string]string, n)
	for i := range recs {
		recs[i] = map[string]string{"id": "cust-" + itoa(i), "email": "user" + itoa(i) + "@example.com", "name": "Customer"}
	}
	recs[n-1]["id"] = "cust-0"
	b, _ := json.Marshal(map[string]any{"batchId": "bench", "records": recs})
	return b
}

func itoa(i int) string { return string(rune('0'+i/10%10)) + string(rune('0'+i%10)) }
