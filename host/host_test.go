package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/empirefederation/neuron/host"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/sdk/abi"
)

// The guests these tests run, built by testutil.BuildWasm with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o NAME.wasm .
const (
	// hostcallGuest exports each host function unchanged, so that a test
	// calls it with any arguments.
	hostcallGuest = "host/testdata/hostcall"
	// echoGuest calls every host function from its handler.
	echoGuest = "runtime/testdata/guests/echo"
)

// cacheDir is the compilation cache every test package shares.
var cacheDir = filepath.Join(os.TempDir(), "neuron-test-cache")

// env is a host.Env that records what the host functions hand it.
type env struct {
	mu      sync.Mutex
	config  []byte
	logs    bytes.Buffer // JSON lines
	logger  *slog.Logger
	metrics map[string]float64
	events  []event
	// full makes AddMetric and Emit refuse, as a processor at its caps.
	full bool
}

type event struct {
	Type string
	Data string
}

func newEnv(config string) *env {
	e := &env{config: []byte(config), metrics: map[string]float64{}}
	e.logger = slog.New(slog.NewJSONHandler(lockedWriter{e}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return e
}

type lockedWriter struct{ e *env }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.e.mu.Lock()
	defer w.e.mu.Unlock()
	return w.e.logs.Write(p)
}

func (e *env) Logger() *slog.Logger { return e.logger }

func (e *env) Config() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.config
}

func (e *env) AddMetric(name string, v float64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.full {
		return false
	}
	e.metrics[name] += v
	return true
}

func (e *env) Emit(typ string, data json.RawMessage) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.full {
		return false
	}
	e.events = append(e.events, event{typ, string(data)})
	return true
}

// reset forgets what was recorded.
func (e *env) reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.logs.Reset()
	clear(e.metrics)
	e.events = nil
}

// records returns the log records written since the last reset.
func (e *env) records(t testing.TB) []map[string]any {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	var recs []map[string]any
	for line := range strings.Lines(e.logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		delete(rec, "time")
		recs = append(recs, rec)
	}
	return recs
}

var _ host.Env = (*env)(nil)

// newRuntime returns a wazero runtime with WASI and the host module bound
// to env, closed when the test ends.
func newRuntime(t testing.TB, env host.Env) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	t.Cleanup(func() {
		_ = r.Close(ctx)
		_ = cache.Close(ctx)
	})
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	if _, err := host.Instantiate(ctx, r, env); err != nil {
		t.Fatalf("host.Instantiate: %v", err)
	}
	return r
}

// guest is one instance of a test guest, bound to the host module.
type guest struct {
	t   testing.TB
	mod api.Module
	buf uint32 // hostcall's buffer
}

// newGuest instantiates the guest built from pkg in r.
func newGuest(t testing.TB, r wazero.Runtime, pkg string) *guest {
	t.Helper()
	bin, err := os.ReadFile(testutil.BuildWasm(t, pkg))
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions(abi.ExportInitialize).WithStderr(&stderr)
	mod, err := r.InstantiateWithConfig(context.Background(), bin, cfg)
	if err != nil {
		t.Fatalf("instantiate %s: %v\n%s", pkg, err, stderr.Bytes())
	}
	g := &guest{t: t, mod: mod}
	if mod.ExportedFunction("buffer") != nil {
		g.buf = uint32(g.call("buffer")[0])
	}
	return g
}

// call calls export name, failing the test if the guest traps.
func (g *guest) call(name string, args ...uint64) []uint64 {
	g.t.Helper()
	res, err := g.mod.ExportedFunction(name).Call(context.Background(), args...)
	if err != nil {
		g.t.Fatalf("%s%v trapped: %v", name, args, err)
	}
	return res
}

// status calls export name and decodes its i32 result.
func (g *guest) status(name string, args ...uint64) int32 {
	g.t.Helper()
	return api.DecodeI32(g.call(name, args...)[0])
}

// put writes b at offset off of hostcall's buffer and returns its address.
func (g *guest) put(off uint32, b []byte) uint32 {
	g.t.Helper()
	if !g.mod.Memory().Write(g.buf+off, b) {
		g.t.Fatalf("write %d bytes at buffer+%d: out of range", len(b), off)
	}
	return g.buf + off
}

// memSize is the size of the guest's memory now.
func (g *guest) memSize() uint32 { return g.mod.Memory().Size() }

// badRanges are (ptr, len) pairs outside a memory of size bytes.
func badRanges(size uint32) []struct {
	name     string
	ptr, len uint32
} {
	return []struct {
		name     string
		ptr, len uint32
	}{
		{"pointer past the end", size, 1},
		{"length past the end", size - 4, 8},
		{"range wrapping 2^32", 0xFFFFFFF0, 100},
		{"huge length", 16, 0xFFFFFFFF},
	}
}

func TestInstantiate(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	mod, err := host.Instantiate(ctx, r, newEnv("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defs := r.Module(abi.ImportModule).ExportedFunctionDefinitions()
	i32, f64 := api.ValueTypeI32, api.ValueTypeF64
	want := map[string][2][]api.ValueType{
		abi.FuncLog:       {{i32, i32, i32}, nil},
		abi.FuncConfig:    {{i32, i32}, {i32}},
		abi.FuncMetricAdd: {{i32, i32, f64}, {i32}},
		abi.FuncEventEmit: {{i32, i32, i32, i32}, {i32}},
		abi.FuncCaller:    {{i32, i32}, {i32}},
	}
	if len(defs) != len(want) {
		t.Errorf("%s exports %d functions, want %d", abi.ImportModule, len(defs), len(want))
	}
	for name, sig := range want {
		d, ok := defs[name]
		if !ok {
			t.Errorf("%s does not export %s", abi.ImportModule, name)
			continue
		}
		if !reflect.DeepEqual(d.ParamTypes(), sig[0]) || !reflect.DeepEqual(d.ResultTypes(), sig[1]) {
			t.Errorf("%s: %v -> %v, want %v -> %v", name, d.ParamTypes(), d.ResultTypes(), sig[0], sig[1])
		}
	}

	t.Run("twice in one runtime", func(t *testing.T) {
		if _, err := host.Instantiate(ctx, r, newEnv("{}")); err == nil {
			t.Error("a second host module in the same runtime was instantiated")
		}
	})
	t.Run("closing", func(t *testing.T) {
		if err := mod.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if r.Module(abi.ImportModule) != nil {
			t.Error("the host module is still in the runtime after Close")
		}
		defer func() {
			if v := recover(); v == nil {
				t.Error("MustInstantiate did not panic")
			}
		}()
		host.MustInstantiate(ctx, r, newEnv("{}")) // again: the name is free
		host.MustInstantiate(ctx, r, newEnv("{}")) // now it is taken
	})
}

// A module with no memory gets ErrCodeBadPointer from every host function,
// like any other pointer it cannot have; the host must not panic on it.
func TestNoGuestMemory(t *testing.T) {
	e := newEnv(`{"a":1}`)
	r := newRuntime(t, e)
	i32, f64 := api.ValueTypeI32, api.ValueTypeF64
	tests := []struct {
		fn      string
		params  []api.ValueType
		results []api.ValueType
	}{
		{abi.FuncLog, []api.ValueType{i32, i32, i32}, nil},
		{abi.FuncConfig, []api.ValueType{i32, i32}, []api.ValueType{i32}},
		{abi.FuncMetricAdd, []api.ValueType{i32, i32, f64}, []api.ValueType{i32}},
		{abi.FuncEventEmit, []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}},
	}
	for _, tc := range tests {
		t.Run(tc.fn, func(t *testing.T) {
			e.reset()
			ctx := context.Background()
			bin := callerModule(tc.fn, tc.params, tc.results, 1)
			mod, err := r.InstantiateWithConfig(ctx, bin, wazero.NewModuleConfig().WithName(""))
			if err != nil {
				t.Fatal(err)
			}
			defer mod.Close(ctx)
			res, err := mod.ExportedFunction("call").Call(ctx)
			if err != nil {
				t.Fatalf("the guest trapped: %v", err)
			}
			if len(tc.results) > 0 && api.DecodeI32(res[0]) != abi.ErrCodeBadPointer {
				t.Errorf("%s = %d, want %d", tc.fn, api.DecodeI32(res[0]), abi.ErrCodeBadPointer)
			}
			if len(e.metrics) != 0 || len(e.events) != 0 {
				t.Errorf("recorded metrics %v events %v", e.metrics, e.events)
			}
		})
	}
}

// callerModule is a Wasm module with no memory that imports fn from the
// host module and exports "call", which calls fn with every i32 argument
// set to arg (f64 arguments 0) and returns its results.
func callerModule(fn string, params, results []api.ValueType, arg byte) []byte {
	vec := func(items ...[]byte) []byte { return append([]byte{byte(len(items))}, bytes.Join(items, nil)...) }
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	section := func(id byte, content []byte) []byte { return append([]byte{id, byte(len(content))}, content...) }
	funcType := func(params, results []api.ValueType) []byte {
		return append(append([]byte{0x60, byte(len(params))}, params...), append([]byte{byte(len(results))}, results...)...)
	}
	var body []byte
	body = append(body, 0) // no locals
	for _, p := range params {
		if p == api.ValueTypeF64 {
			body = append(body, 0x44, 0, 0, 0, 0, 0, 0, 0, 0) // f64.const 0
		} else {
			body = append(body, 0x41, arg) // i32.const arg
		}
	}
	body = append(body, 0x10, 0, 0x0b) // call 0; end
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = append(m, section(1, vec(funcType(params, results), funcType(nil, results)))...)
	m = append(m, section(2, vec(append(append(name(abi.ImportModule), name(fn)...), 0, 0)))...)
	m = append(m, section(3, vec([]byte{1}))...)
	m = append(m, section(7, vec(append(name("call"), 0, 1)))...)
	m = append(m, section(10, vec(append([]byte{byte(len(body))}, body...)))...)
	return m
}

// The echo guest calls every host function from its handler, as a real
// processor does; the runtime's own tests cover the same through HTTP.
func TestEchoGuest(t *testing.T) {
	e := newEnv(`{"greeting":"hello, host"}`)
	g := newGuest(t, newRuntime(t, e), echoGuest)

	handle := func(t *testing.T, route string) abi.Response {
		t.Helper()
		req := abi.AppendRequest(nil, &abi.Request{Method: "POST", Path: route, Route: route})
		ptr := uint32(g.call(abi.ExportAlloc, uint64(len(req)))[0])
		if !g.mod.Memory().Write(ptr, req) {
			t.Fatalf("%s returned %d, outside memory", abi.ExportAlloc, ptr)
		}
		rp, rn := abi.Unpack(g.call(abi.DefaultHandlerExport, uint64(ptr), uint64(len(req)))[0])
		b, ok := g.mod.Memory().Read(rp, rn)
		if !ok {
			t.Fatalf("response at %d (%d bytes) is outside memory", rp, rn)
		}
		resp, err := abi.DecodeResponse(b)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	t.Run("host", func(t *testing.T) {
		e.reset()
		resp := handle(t, "/t/echo/host")
		if string(resp.Body) != `{"greeting":"hello, host"}` {
			t.Errorf("config read by the guest: %s", resp.Body)
		}
		wantHeader := []abi.Pair{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Metric", Value: "0"}, {Name: "X-Event", Value: "0"}}
		if !reflect.DeepEqual(resp.Header, wantHeader) {
			t.Errorf("header %v, want %v", resp.Header, wantHeader)
		}
		wantLog := []map[string]any{{"level": "INFO", "msg": "echo host", "k": "v"}}
		if got := e.records(t); !reflect.DeepEqual(got, wantLog) {
			t.Errorf("logged %v, want %v", got, wantLog)
		}
		if !reflect.DeepEqual(e.metrics, map[string]float64{"echoCalls": 1}) {
			t.Errorf("metrics %v", e.metrics)
		}
		if want := []event{{"echo_event", `{"n":1}`}}; !reflect.DeepEqual(e.events, want) {
			t.Errorf("events %v, want %v", e.events, want)
		}
	})

	t.Run("badhost", func(t *testing.T) {
		e.reset()
		resp := handle(t, "/t/echo/badhost")
		var got map[string]int32
		if err := json.Unmarshal(resp.Body, &got); err != nil {
			t.Fatalf("body %s: %v", resp.Body, err)
		}
		want := map[string]int32{"config": -1, "metricAdd": -1, "eventEmitType": -1, "eventEmitData": -1}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("host results %v, want %v", got, want)
		}
		if len(e.metrics) != 0 || len(e.events) != 0 {
			t.Errorf("bad calls recorded metrics %v events %v", e.metrics, e.events)
		}
		recs := e.records(t)
		if len(recs) != 1 || recs[0]["level"] != "WARN" || !strings.Contains(recs[0]["msg"].(string), "outside its memory") {
			t.Errorf("logged %v, want one warning about the log call's pointer", recs)
		}
		if resp := handle(t, "/t/echo/host"); resp.Status != 200 {
			t.Errorf("the guest broke after bad host calls: status %d", resp.Status)
		}
	})
}
