package runtime_test

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"os"
	goruntime "runtime"
	"testing"

	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/internal/wasmbound"
	"github.com/empirefederation/neuron/runtime"
)

// TestTableGrow_Bounded: a handler's table.grow past the instance's share of
// wasmbound.DefaultBudget.TableElements gets -1, however often it asks, and
// the Go heap, where wazero keeps table elements, does not grow by what it
// asked for; a table.grow within the bound still grows the table, and the
// processor next to it keeps answering.
func TestTableGrow_Bounded(t *testing.T) {
	sidecar, err := os.ReadFile("testdata/tablegrow.json")
	if err != nil {
		t.Fatal(err)
	}
	files := guests(t, "echo")
	files["tablegrow.wasm"] = testutil.Wat(t, "testdata/tablegrow.wat")
	files["tablegrow.json"] = sidecar
	e := startEnv(t, runtime.Options{PluginLimits: map[string]runtime.Limits{"tablegrow": {PoolMax: 1}}}, files)

	grow := func(path string) int32 {
		t.Helper()
		r := e.get(path)
		if r.status != http.StatusOK || len(r.body) != 4 {
			t.Fatalf("GET %s: %d %q", path, r.status, r.body)
		}
		return int32(binary.LittleEndian.Uint32(r.body))
	}
	if got := grow("/t/tablegrow/small"); got != 1 {
		t.Fatalf("table.grow 1000 within the bound returned %d, want the old size 1", got)
	}
	before := heapBytes()
	const asked = 0x400000 * 8 // bytes of the elements each huge call asks for
	for i := range 4 {
		if got := grow("/t/tablegrow/huge"); got != -1 {
			t.Fatalf("call %d: table.grow of 4 Mi elements returned %d, want -1", i, got)
		}
	}
	if grown := heapBytes() - before; grown > asked/2 {
		t.Errorf("the Go heap grew by %d bytes after refused table.grow calls of %d bytes each", grown, asked)
	}
	if got := grow("/t/tablegrow/small"); got != 1001 {
		t.Errorf("table.grow 1000 after the refusals returned %d, want the old size 1001", got)
	}
	if r := e.get("/t/echo/1"); r.status != http.StatusOK {
		t.Errorf("echo next to it: %d %q", r.status, r.body)
	}
}

// heapBytes is the Go heap in use after a collection.
func heapBytes() int64 {
	goruntime.GC()
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// functionsModule is a module of n functions of type () -> (), each with
// no locals and body: the shape of a module, made for a test, with none of
// a processor's exports (those beyond the module budget are refused before
// anything looks for them).
func functionsModule(n int, body []byte) []byte {
	sec := func(id byte, b []byte) []byte { return append(append([]byte{id}, uleb(uint32(len(b)))...), b...) }
	body = append(append([]byte{0}, body...), 0x0B)
	fns, code := uleb(uint32(n)), uleb(uint32(n))
	for range n {
		fns = append(fns, 0)
		code = append(append(code, uleb(uint32(len(body)))...), body...)
	}
	m := append([]byte("\x00asm\x01\x00\x00\x00"), sec(1, []byte{1, 0x60, 0, 0})...)
	return append(append(m, sec(3, fns)...), sec(10, code)...)
}

// branchyBody is n times (if (i32.const 0) (then)): n blocks for the
// compiler, whose time grows faster than linearly with them.
func branchyBody(n int) []byte {
	return bytes.Repeat([]byte{0x41, 0x00, 0x04, 0x40, 0x0B}, n)
}

// budgetModules are the modules beyond wasmbound.DefaultBudget that
// badModules lists: refused by wasmbound before anything compiles them.
func budgetModules() []badModule {
	b := wasmbound.DefaultBudget
	file := func(name string, bin func(t testing.TB) []byte) func(t testing.TB) map[string][]byte {
		return func(t testing.TB) map[string][]byte { return map[string][]byte{name: bin(t)} }
	}
	return []badModule{
		{
			file:    "bigtable.wasm",
			files:   file("bigtable.wasm", func(t testing.TB) []byte { return testutil.Wat(t, "testdata/bigtable.wat") }),
			reasons: []string{"refused before compiling", "262145 elements at the start of table 0", "at most 262144", "module budget"},
		},
		{
			file:    "importtable.wasm",
			files:   file("importtable.wasm", func(t testing.TB) []byte { return testutil.Wat(t, "testdata/importtable.wat") }),
			reasons: []string{"refused before compiling", "imported tables (the neuron provides none)"},
		},
		{
			file:    "manyfunctions.wasm",
			files:   file("manyfunctions.wasm", func(testing.TB) []byte { return functionsModule(int(b.Functions)+1, nil) }),
			reasons: []string{"refused before compiling", "131073 functions", "at most 131072", "module budget"},
		},
		{
			file:    "branchy.wasm",
			files:   file("branchy.wasm", func(testing.TB) []byte { return functionsModule(1, branchyBody(int(b.FunctionBranches)+1)) }),
			reasons: []string{"refused before compiling", "8193 blocks and branches in function 0", "at most 8192"},
		},
	}
}
