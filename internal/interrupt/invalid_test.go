package interrupt

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/internal/wasmdata"
)

// TestInstrumentRefusesHostileGlobals: a module that names globals 0 and 1
// without defining any is invalid, and instrumented it would own the flag
// and the tick (see the .wat). Instrument refuses it as invalid.
func TestInstrumentRefusesHostileGlobals(t *testing.T) {
	bin := testutil.Wat(t, "testdata/stealglobals.wat", "--no-check")
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	if _, err := r.CompileModule(ctx, bin); err == nil {
		t.Fatal("wazero compiles the hostile module as it is: it is meant to be invalid")
	}
	out, err := Instrument(bin)
	if !errors.Is(err, ErrInvalid) || out != nil {
		t.Fatalf("Instrument = %d bytes, %v; want ErrInvalid", len(out), err)
	}
	if want := "global index 0 is out of range: the module has 0 globals"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

// invalidCases are modules invalid only in what the rewrite would hide: a
// global they do not have, named in each place a global index can appear,
// or an impossible start function. Each has a memory, so that only its
// invalidity keeps it from being instrumented.
func invalidCases() map[string][]byte {
	fn := func(secs ...[]byte) []byte { // one function () -> (), a memory, and secs
		return wasmModule(ops(typeSec(functype(nil, nil)), funcSec(0)), tableSec(table(tFuncref, 1)), memSec(1),
			bytes.Join(secs, nil), codeSec(body(nil, opEnd)))
	}
	elem := func(seg []byte) []byte { return ops(sec(9, vec(seg))) }
	onlyGlobal := globalSec(global(tI32, false, i32c(0))) // global 0; 1 is past the end
	return map[string][]byte{
		"global.get in code":    oneFunc(gget(0), opDrop, opEnd),
		"global.set in code":    oneFunc(i32c(0), gset(1), opEnd),
		"global.get past own":   wasmModule(typeSec(functype(nil, nil)), funcSec(0), memSec(1), onlyGlobal, codeSec(body(nil, gget(1), opDrop, opEnd))),
		"global initializer":    fn(globalSec(global(tI32, false, gget(1)))),
		"extended constant":     fn(globalSec(global(tI32, false, ops(i32c(1), gget(1), opI32Add)))),
		"element offset, 0":     fn(elem(ops(0x00, gget(0), opEnd, vecU32(0)))),
		"element offset, 2":     fn(elem(ops(0x02, uleb(0), gget(0), opEnd, 0x00, vecU32(0)))),
		"element offset, 4":     fn(elem(ops(0x04, gget(0), opEnd, uleb(1), opRefFunc, 0, opEnd))),
		"element offset, 6":     fn(elem(ops(0x06, uleb(0), gget(0), opEnd, tFuncref, uleb(1), opRefFunc, 0, opEnd))),
		"element expression, 4": fn(elem(ops(0x04, i32c(0), opEnd, uleb(1), gget(0), opEnd))),
		"element expression, 5": fn(elem(ops(0x05, tFuncref, uleb(1), gget(0), opEnd))),
		"element expression, 6": fn(elem(ops(0x06, uleb(0), i32c(0), opEnd, tFuncref, uleb(2), opRefFunc, 0, opEnd, gget(0), opEnd))),
		"element expression, 7": fn(elem(ops(0x07, tFuncref, uleb(1), gget(0), opEnd))),
		"data offset, 0":        fn(sec(11, vec(ops(0x00, gget(0), opEnd, uleb(1), byte('x'))))),
		"data offset, 2":        fn(sec(11, vec(ops(0x02, uleb(0), gget(0), opEnd, uleb(1), byte('x'))))),
		"export of a global":    fn(exportSec(exp("g", kGlobal, 0))),
		"export past own":       wasmModule(typeSec(functype(nil, nil)), funcSec(0), memSec(1), onlyGlobal, exportSec(exp("g", kGlobal, 1)), codeSec(body(nil, opEnd))),
		"table initializer": wasmModule(typeSec(functype(nil, nil)), funcSec(0),
			sec(4, vec(ops(0x40, 0x00, tFuncref, limits(1), gget(0), opEnd))), memSec(1), codeSec(body(nil, opEnd))),
		"start past the last function": fn(startSec(1)),
		"start with a parameter": wasmModule(typeSec(functype([]byte{tI32}, nil)), funcSec(0), memSec(1), startSec(0),
			codeSec(body(nil, opEnd))),
		"start with a result": wasmModule(typeSec(functype(nil, []byte{tI32})), funcSec(0), memSec(1), startSec(0),
			codeSec(body(nil, i32c(0), opEnd))),
		"imported start with a parameter": wasmModule(typeSec(functype([]byte{tI32}, nil)),
			importSec(impFunc("env", "f", 0)), memSec(1), startSec(0)),
		"start of a type past the last": wasmModule(typeSec(functype(nil, nil)), funcSec(3), memSec(1), startSec(0),
			codeSec(body(nil, opEnd))),
		"two global sections": wasmModule(typeSec(functype(nil, nil)), funcSec(0), memSec(1),
			globalSec(global(tI32, true, i32c(0))), globalSec(global(tI32, true, i32c(0))), codeSec(body(nil, gget(1), opDrop, opEnd))),
		"sections out of order": wasmModule(typeSec(functype(nil, nil)), funcSec(0), globalSec(global(tI32, true, i32c(0))),
			memSec(1), codeSec(body(nil, opEnd))),
	}
}

// TestInstrumentRefusesInvalid: every invalid case is refused by wazero
// as it is, and by Instrument with ErrInvalid.
func TestInstrumentRefusesInvalid(t *testing.T) {
	ctx, r := fuzzRuntime(t)
	for nm, bin := range invalidCases() {
		t.Run(nm, func(t *testing.T) {
			if cm, err := compile(ctx, r, bin); err == nil {
				cm.Close(ctx)
				t.Fatal("wazero compiles the case: it is meant to be invalid")
			}
			out, err := instrumentNoPanic(t, bin)
			if !errors.Is(err, ErrInvalid) || out != nil {
				t.Fatalf("Instrument = %d bytes, %v; want ErrInvalid", len(out), err)
			}
		})
	}
}

// TestInstrumentOwnNames: a module that already exports one of the names
// the rewrite adds is left alone, whatever the export is.
func TestInstrumentOwnNames(t *testing.T) {
	for _, nm := range []string{Global, StartExport} {
		bin := wasmModule(typeSec(functype(nil, nil)), funcSec(0), memSec(1), exportSec(exp(nm, kFunc, 0)), codeSec(body(nil, opEnd)))
		if out, err := Instrument(bin); err == nil || errors.Is(err, ErrInvalid) {
			t.Errorf("a module exporting %q: Instrument = %d bytes, %v; want an error, not ErrInvalid", nm, len(out), err)
		}
	}
}

// checkKeepsInvalid is the second fuzz property: a module wazero refuses
// stays refused through what the runtime makes of it before compiling
// (codecache.prepareCode: wasmdata.Coalesce, then Instrument): neither
// coalescing its data nor instrumenting it makes it valid.
func checkKeepsInvalid(t testing.TB, ctx context.Context, r wazero.Runtime, bin []byte) {
	t.Helper()
	if !compileSafe(bin) {
		return
	}
	if cm, err := compile(ctx, r, bin); err == nil {
		cm.Close(ctx)
		return // valid: checkProperty's business
	}
	refused := func(what string, b []byte) {
		t.Helper()
		if !compileSafe(b) {
			t.Fatalf("%s of an invalid module is not safe to compile", what)
		}
		if cm, err := compile(ctx, r, b); err == nil {
			cm.Close(ctx)
			t.Fatalf("wazero refuses the input but compiles its %s", what)
		}
	}
	code := bin
	if c, err := wasmdata.Coalesce(bin); err == nil && !bytes.Equal(c, bin) {
		refused("coalesced form", c)
		code = c
	}
	if out, err := instrumentNoPanic(t, code); err == nil {
		refused("instrumented form", out)
	}
}

func FuzzInstrumentKeepsInvalid(f *testing.F) {
	f.Add(testutil.Wat(f, "testdata/stealglobals.wat", "--no-check"))
	for _, bin := range invalidCases() {
		f.Add(bin)
	}
	for _, bin := range seeds() {
		f.Add(bin)
	}
	ctx, r := fuzzRuntime(f)
	f.Fuzz(func(t *testing.T, bin []byte) {
		checkKeepsInvalid(t, ctx, r, bin)
	})
}
