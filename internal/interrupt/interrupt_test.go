package interrupt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/empirefederation/neuron/internal/leb128"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/internal/wasmbin"
	"github.com/empirefederation/neuron/sdk/abi"
)

// ---------------------------------------------------------------------------
// A tiny Wasm module builder, for hand-assembling test modules.
// ---------------------------------------------------------------------------

// Value types.
const (
	tI32       byte = 0x7F
	tI64       byte = 0x7E
	tF32       byte = 0x7D
	tF64       byte = 0x7C
	tFuncref   byte = 0x70
	tExternref byte = 0x6F
)

// Export and import kinds.
const (
	kFunc   byte = 0x00
	kTable  byte = 0x01
	kMem    byte = 0x02
	kGlobal byte = 0x03
)

// Opcodes the tests spell out.
const (
	opUnreachable        byte = 0x00
	opBlock              byte = 0x02
	opLoop               byte = 0x03
	opIf                 byte = 0x04
	opElse               byte = 0x05
	opEnd                byte = 0x0B
	opBrTable            byte = 0x0E
	opCallIndirect       byte = 0x11
	opReturnCall         byte = 0x12
	opReturnCallIndirect byte = 0x13
	opCallRef            byte = 0x14
	opDrop               byte = 0x1A
	opSelectT            byte = 0x1C
	opTableGet           byte = 0x25
	opTableSet           byte = 0x26
	opI32Load            byte = 0x28
	opI64Load16S         byte = 0x32
	opI32Load8U          byte = 0x2D
	opI32Store           byte = 0x36
	opI64Store           byte = 0x37
	opMemorySize         byte = 0x3F
	opMemoryGrow         byte = 0x40
	opI32Eqz             byte = 0x45
	opI32LtS             byte = 0x48
	opI64LtS             byte = 0x53
	opI64Ne              byte = 0x52
	opI32Add             byte = 0x6A
	opI32Sub             byte = 0x6B
	opI32And             byte = 0x71
	opI32Or              byte = 0x72
	opI64Add             byte = 0x7C
	opI32WrapI64         byte = 0xA7
	opI32TruncF64S       byte = 0xAA
	opI32ReinterpretF32  byte = 0xBC
	opI64ReinterpretF64  byte = 0xBD
	opRefNull            byte = 0xD0
	opRefIsNull          byte = 0xD1
	opRefFunc            byte = 0xD2
	opRefAsNonNull       byte = 0xD4
	opBrOnNull           byte = 0xD5
	opBrOnNonNull        byte = 0xD6
	btEmpty              byte = 0x40
)

func uleb(v uint64) []byte { return binary.AppendUvarint(nil, v) }

// ops concatenates bytes, small ints and byte slices.
func ops(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case byte:
			b = append(b, v)
		case int:
			if v < 0 || v > 0xFF {
				panic(fmt.Sprintf("ops: %d is not a byte", v))
			}
			b = append(b, byte(v))
		case []byte:
			b = append(b, v...)
		default:
			panic(fmt.Sprintf("ops: %T", p))
		}
	}
	return b
}

func vec(items ...[]byte) []byte { return ops(uleb(uint64(len(items))), bytes.Join(items, nil)) }

func vecU32(vs ...uint32) []byte {
	b := uleb(uint64(len(vs)))
	for _, v := range vs {
		b = append(b, uleb(uint64(v))...)
	}
	return b
}

func name(s string) []byte { return ops(uleb(uint64(len(s))), []byte(s)) }

func wasmModule(secs ...[]byte) []byte {
	return ops([]byte("\x00asm\x01\x00\x00\x00"), bytes.Join(secs, nil))
}

func sec(id byte, body []byte) []byte { return ops(id, uleb(uint64(len(body))), body) }

func functype(params, results []byte) []byte {
	return ops(0x60, uleb(uint64(len(params))), params, uleb(uint64(len(results))), results)
}

func limits(min uint32, max ...uint32) []byte {
	if len(max) > 0 {
		return ops(0x01, uleb(uint64(min)), uleb(uint64(max[0])))
	}
	return ops(0x00, uleb(uint64(min)))
}

func typeSec(types ...[]byte) []byte  { return sec(1, vec(types...)) }
func importSec(imps ...[]byte) []byte { return sec(2, vec(imps...)) }
func impFunc(mod, field string, typ uint32) []byte {
	return ops(name(mod), name(field), kFunc, uleb(uint64(typ)))
}
func impTable(mod, field string, rt byte, min uint32) []byte {
	return ops(name(mod), name(field), kTable, rt, limits(min))
}
func impMem(mod, field string, min uint32, max ...uint32) []byte {
	return ops(name(mod), name(field), kMem, limits(min, max...))
}
func impGlobal(mod, field string, vt byte, mut bool) []byte {
	m := byte(0)
	if mut {
		m = 1
	}
	return ops(name(mod), name(field), kGlobal, vt, m)
}
func funcSec(types ...uint32) []byte          { return sec(3, vecU32(types...)) }
func tableSec(tables ...[]byte) []byte        { return sec(4, vec(tables...)) }
func table(rt byte, min uint32) []byte        { return ops(rt, limits(min)) }
func memSec(min uint32, max ...uint32) []byte { return sec(5, vec(limits(min, max...))) }
func globalSec(globals ...[]byte) []byte      { return sec(6, vec(globals...)) }
func exportSec(exports ...[]byte) []byte      { return sec(7, vec(exports...)) }
func exp(field string, kind byte, index uint32) []byte {
	return ops(name(field), kind, uleb(uint64(index)))
}
func startSec(fn uint32) []byte     { return sec(8, uleb(uint64(fn))) }
func elemSec(segs ...[]byte) []byte { return sec(9, vec(segs...)) }
func dataCountSec(n uint32) []byte  { return sec(12, uleb(uint64(n))) }
func dataSec(segs ...[]byte) []byte { return sec(11, vec(segs...)) }

func global(vt byte, mut bool, init []byte) []byte {
	m := byte(0)
	if mut {
		m = 1
	}
	return ops(vt, m, init, opEnd)
}

// Element segments: active in table 0, passive and declarative, all of
// function indices.
func elemActive(offset int32, fns ...uint32) []byte {
	return ops(0x00, i32c(offset), opEnd, vecU32(fns...))
}
func elemPassive(fns ...uint32) []byte     { return ops(0x01, 0x00, vecU32(fns...)) }
func elemDeclarative(fns ...uint32) []byte { return ops(0x03, 0x00, vecU32(fns...)) }

func dataActive(offset int32, data []byte) []byte {
	return ops(0x00, i32c(offset), opEnd, uleb(uint64(len(data))), data)
}
func dataPassive(data []byte) []byte { return ops(0x01, uleb(uint64(len(data))), data) }

func customSec(nm string, payload []byte) []byte { return sec(0, ops(name(nm), payload)) }

// local is one group of a function's local declarations.
type local struct {
	n uint32
	t byte
}

// body is a function body: local declarations, then code (which must end
// with opEnd).
func body(locals []local, code ...any) []byte {
	b := uleb(uint64(len(locals)))
	for _, l := range locals {
		b = append(b, uleb(uint64(l.n))...)
		b = append(b, l.t)
	}
	return append(b, ops(code...)...)
}

func codeSec(bodies ...[]byte) []byte {
	items := make([][]byte, len(bodies))
	for i, b := range bodies {
		items[i] = ops(uleb(uint64(len(b))), b)
	}
	return sec(10, vec(items...))
}

// Instructions with immediates.
func i32c(v int32) []byte  { return ops(0x41, leb128.AppendInt(nil, int64(v))) }
func i64c(v int64) []byte  { return ops(0x42, leb128.AppendInt(nil, v)) }
func f32c(b uint32) []byte { return binary.LittleEndian.AppendUint32([]byte{0x43}, b) }
func f64c(b uint64) []byte { return binary.LittleEndian.AppendUint64([]byte{0x44}, b) }
func lget(i uint32) []byte { return ops(0x20, uleb(uint64(i))) }
func lset(i uint32) []byte { return ops(0x21, uleb(uint64(i))) }
func ltee(i uint32) []byte { return ops(0x22, uleb(uint64(i))) }
func gget(i uint32) []byte { return ops(0x23, uleb(uint64(i))) }
func gset(i uint32) []byte { return ops(0x24, uleb(uint64(i))) }
func call(i uint32) []byte { return ops(0x10, uleb(uint64(i))) }
func br(l uint32) []byte   { return ops(0x0C, uleb(uint64(l))) }
func brIf(l uint32) []byte { return ops(0x0D, uleb(uint64(l))) }

// mem is a load or store with its memarg.
func mem(op byte, align, offset uint32) []byte {
	return ops(op, uleb(uint64(align)), uleb(uint64(offset)))
}

// misc is a 0xFC-prefixed instruction.
func misc(sub uint32, imms ...uint32) []byte {
	b := ops(0xFC, uleb(uint64(sub)))
	for _, v := range imms {
		b = append(b, uleb(uint64(v))...)
	}
	return b
}

// incr adds k to the i32 local l.
func incr(l uint32, k int32) []byte { return ops(lget(l), i32c(k), opI32Add, lset(l)) }

// countTo increments the i32 local i and branches to label 0 while it is
// below the i32 that limit pushes.
func countTo(i uint32, limit []byte) []byte {
	return ops(lget(i), i32c(1), opI32Add, ltee(i), limit, opI32LtS, brIf(0))
}

// checkSeq is the sequence Instrument inserts before a branch back to a loop
// and before a tail call:
//
//	tick++
//	if tick&1023 == 0 | flag {
//		if flag { unreachable }
//		drop(memory.grow(0))
//	}
//
// where tick is the global after the flag.
func checkSeq(flag uint32) []byte {
	tick := flag + 1
	return ops(
		gget(tick), i32c(1), opI32Add, gset(tick),
		gget(tick), i32c(1023), opI32And, opI32Eqz, gget(flag), opI32Or,
		opIf, btEmpty,
		gget(flag), opIf, btEmpty, opUnreachable, opEnd,
		i32c(0), opMemoryGrow, 0x00, opDrop,
		opEnd)
}

// ---------------------------------------------------------------------------
// A test-side reader of the binary format, independent of the package's.
// ---------------------------------------------------------------------------

type wsec struct {
	id   byte
	body []byte
}

// splitModule splits a module into its sections; it fails the test on
// malformed input.
func splitModule(t testing.TB, bin []byte) []wsec {
	t.Helper()
	if !bytes.HasPrefix(bin, []byte("\x00asm\x01\x00\x00\x00")) {
		t.Fatalf("no Wasm header: % x", bin[:min(len(bin), 8)])
	}
	var secs []wsec
	b := bin[8:]
	for len(b) > 0 {
		n, k := binary.Uvarint(b[1:])
		if k <= 0 || n > uint64(len(b)-1-k) {
			t.Fatalf("malformed section %d", b[0])
		}
		secs = append(secs, wsec{b[0], b[1+k : 1+k+int(n)]})
		b = b[1+k+int(n):]
	}
	return secs
}

// sectionEnds returns the offsets in bin at which a section ends.
func sectionEnds(bin []byte) map[int]bool {
	ends := map[int]bool{8: true}
	at := 8
	for at < len(bin) {
		n, k := binary.Uvarint(bin[at+1:])
		if k <= 0 {
			break
		}
		at += 1 + k + int(n)
		ends[at] = true
	}
	return ends
}

func findSection(secs []wsec, id byte) ([]byte, int) {
	var body []byte
	count := 0
	for _, s := range secs {
		if s.id == id {
			body = s.body
			count++
		}
	}
	return body, count
}

// tread is a forgiving cursor for the test-side parsers.
type tread struct {
	t testing.TB
	b []byte
}

func (r *tread) u32() uint32 {
	r.t.Helper()
	v, k := binary.Uvarint(r.b)
	if k <= 0 || v > math.MaxUint32 {
		r.t.Fatalf("bad LEB128 at % x", r.b[:min(len(r.b), 8)])
	}
	r.b = r.b[k:]
	return uint32(v)
}

func (r *tread) byte() byte {
	r.t.Helper()
	if len(r.b) == 0 {
		r.t.Fatal("unexpected end")
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *tread) bytes(n uint32) []byte {
	r.t.Helper()
	if uint32(len(r.b)) < n {
		r.t.Fatal("unexpected end")
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *tread) limits() {
	if r.byte()&1 != 0 {
		r.u32()
	}
	r.u32()
}

// exportsOf returns the exports of a valid module, name to kind and index.
func exportsOf(t testing.TB, bin []byte) map[string][2]uint32 {
	t.Helper()
	body, _ := findSection(splitModule(t, bin), 7)
	out := map[string][2]uint32{}
	if body == nil {
		return out
	}
	r := tread{t, body}
	for n := r.u32(); n > 0; n-- {
		nm := string(r.bytes(r.u32()))
		kind := r.byte()
		out[nm] = [2]uint32{uint32(kind), r.u32()}
	}
	return out
}

// moduleCounts returns the numbers of imported and defined globals and of
// memories of a valid module whose imports use no typed references.
func moduleCounts(t testing.TB, bin []byte) (imported, defined, memories int) {
	t.Helper()
	secs := splitModule(t, bin)
	if body, _ := findSection(secs, 2); body != nil {
		r := tread{t, body}
		for n := r.u32(); n > 0; n-- {
			r.bytes(r.u32())
			r.bytes(r.u32())
			switch kind := r.byte(); kind {
			case kFunc:
				r.u32()
			case kTable:
				r.byte()
				r.limits()
			case kMem:
				r.limits()
				memories++
			case kGlobal:
				r.byte()
				r.byte()
				imported++
			default:
				t.Fatalf("import kind %#x", kind)
			}
		}
	}
	if body, _ := findSection(secs, 5); body != nil {
		r := tread{t, body}
		memories += int(r.u32())
	}
	if body, _ := findSection(secs, 6); body != nil {
		r := tread{t, body}
		defined = int(r.u32())
	}
	return imported, defined, memories
}

// codeBodies returns the function bodies of a code section.
func codeBodies(t testing.TB, body []byte) [][]byte {
	t.Helper()
	if body == nil {
		return nil
	}
	r := tread{t, body}
	var out [][]byte
	for n := r.u32(); n > 0; n-- {
		out = append(out, r.bytes(r.u32()))
	}
	return out
}

// specOrder is each non-custom section's position in a module.
var specOrder = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13}

// checkStructure checks that out is in with exactly the instrumentation
// added: sections in legal order; every section other than global, export,
// start and code unchanged and in place; the flag and tick globals and the
// flag's export appended to their vectors; the start section, if any, gone
// and its function exported as StartExport after the flag; and each
// function body the original with checkSeq inserted loops times in all
// (loops < 0: any number of times).
func checkStructure(t testing.TB, in, out []byte, flag uint32, loops int) {
	t.Helper()
	if !bytes.Equal(in[:8], out[:8]) {
		t.Errorf("header changed: % x", out[:8])
	}
	inSecs, outSecs := splitModule(t, in), splitModule(t, out)

	last := 0
	for _, s := range outSecs {
		if s.id == 0 {
			continue
		}
		o, ok := specOrder[s.id]
		if !ok || o <= last {
			t.Fatalf("section %d out of order in %v", s.id, sectionIDs(outSecs))
		}
		last = o
	}

	changed := map[byte]bool{6: true, 7: true, 8: true, 10: true}
	keep := func(secs []wsec) []wsec {
		var out []wsec
		for _, s := range secs {
			if !changed[s.id] {
				out = append(out, s)
			}
		}
		return out
	}
	if a, b := keep(inSecs), keep(outSecs); !reflect.DeepEqual(a, b) {
		t.Errorf("other sections changed: %v became %v", sectionIDs(a), sectionIDs(b))
	}

	checkVec := func(what string, id byte, items ...[]byte) {
		t.Helper()
		inBody, _ := findSection(inSecs, id)
		outBody, n := findSection(outSecs, id)
		if n != 1 {
			t.Fatalf("%d %s sections", n, what)
		}
		var inCount uint64
		var inItems []byte
		if inBody != nil {
			c, k := binary.Uvarint(inBody)
			inCount, inItems = c, inBody[k:]
		}
		outCount, k := binary.Uvarint(outBody)
		if outCount != inCount+uint64(len(items)) {
			t.Errorf("%s count %d, want %d", what, outCount, inCount+uint64(len(items)))
		}
		if want := ops(inItems, bytes.Join(items, nil)); !bytes.Equal(outBody[k:], want) {
			t.Errorf("%s section items:\n got % x\nwant % x", what, outBody[k:], want)
		}
	}
	zero := []byte{tI32, 0x01, 0x41, 0x00, opEnd} // mut i32 = i32.const 0
	checkVec("global", 6, zero, zero)
	exports := [][]byte{ops(name(Global), kGlobal, uleb(uint64(flag)))}
	if start, n := findSection(inSecs, 8); n == 1 {
		exports = append(exports, ops(name(StartExport), kFunc, start))
	}
	checkVec("export", 7, exports...)
	if _, n := findSection(outSecs, 8); n != 0 {
		t.Error("the start section is still there")
	}

	inCode, _ := findSection(inSecs, 10)
	outCode, _ := findSection(outSecs, 10)
	inBodies, outBodies := codeBodies(t, inCode), codeBodies(t, outCode)
	if len(inBodies) != len(outBodies) {
		t.Fatalf("%d function bodies became %d", len(inBodies), len(outBodies))
	}
	check := checkSeq(flag)
	checks := 0
	for i := range inBodies {
		checks += bytes.Count(outBodies[i], check)
		if stripped := bytes.ReplaceAll(outBodies[i], check, nil); !bytes.Equal(stripped, inBodies[i]) {
			t.Errorf("function %d, less its checks, differs:\n got % x\nwant % x", i, stripped, inBodies[i])
		}
	}
	if loops >= 0 && checks != loops {
		t.Errorf("%d checks inserted, want one before each of %d branches back to a loop", checks, loops)
	}
}

func sectionIDs(secs []wsec) []byte {
	ids := make([]byte, len(secs))
	for i, s := range secs {
		ids[i] = s.id
	}
	return ids
}

// ---------------------------------------------------------------------------
// Structural cases.
// ---------------------------------------------------------------------------

type wcall struct {
	fn   string
	args []uint64
	want []uint64
	// loops says the call runs a loop, so that it must trap once the flag
	// is set; a call without it must give the same result with the flag set.
	loops bool
}

type structCase struct {
	name     string
	bin      []byte
	flag     uint32           // the expected index of the flag global
	loops    int              // the number of loop instructions in the module
	ids      []byte           // if set, the expected section ids of the output
	features api.CoreFeatures // if set, the runtime's features
	// setup prepares a runtime before the module is instantiated in it; the
	// function it returns reports what the module did while instantiated.
	setup   func(t *testing.T, ctx context.Context, r wazero.Runtime) func() []int32
	reports []int32           // what setup's function must return
	globals map[string]uint64 // exported globals and their values
	calls   []wcall
}

func i32s(vs ...int32) []uint64 {
	out := make([]uint64, len(vs))
	for i, v := range vs {
		out[i] = api.EncodeI32(v)
	}
	return out
}

// reportHost provides env.report(i32), which records its argument.
func reportHost(t *testing.T, ctx context.Context, r wazero.Runtime) func() []int32 {
	var got []int32
	_, err := r.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithFunc(func(v int32) { got = append(got, v) }).Export("report").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return func() []int32 { return got }
}

// providerModule exports globals, a memory, a table and a function for
// importedGlobals to import as "prov".
var providerModule = wasmModule(
	typeSec(functype(nil, []byte{tI32})),
	funcSec(0),
	tableSec(table(tFuncref, 1)),
	memSec(1, 2),
	globalSec(global(tI32, false, i32c(7)), global(tI64, true, i64c(9))),
	exportSec(exp("f", kFunc, 0), exp("gi", kGlobal, 0), exp("gm", kGlobal, 1),
		exp("mem", kMem, 0), exp("tab", kTable, 0)),
	codeSec(body(nil, i32c(11), opEnd)),
	dataSec(dataActive(0, []byte{0xE8, 0x03, 0, 0})), // 1000
)

func manyGlobals(n int) []byte {
	gs := make([][]byte, n)
	for i := range gs {
		gs[i] = global(tI32, false, i32c(int32(i)))
	}
	return wasmModule(
		typeSec(functype(nil, []byte{tI32})),
		funcSec(0),
		memSec(0, 0),
		globalSec(gs...),
		exportSec(exp("get", kFunc, 0)),
		codeSec(body([]local{{1, tI32}},
			opLoop, btEmpty, countTo(0, i32c(3)), opEnd,
			lget(0), gget(uint32(n-1)), opI32Add, opEnd)),
	)
}

func manyExports(n int) []byte {
	es := [][]byte{exp("get", kFunc, 0)}
	for i := 1; i < n; i++ {
		es = append(es, exp(fmt.Sprintf("e%d", i), kFunc, 0))
	}
	return wasmModule(
		typeSec(functype(nil, []byte{tI32})),
		funcSec(0),
		memSec(0, 0),
		exportSec(es...),
		codeSec(body([]local{{1, tI32}}, opLoop, btEmpty, countTo(0, i32c(3)), opEnd, lget(0), opEnd)),
	)
}

func structuralCases() []structCase {
	var cases []structCase

	cases = append(cases, structCase{
		name: "no global or export section",
		bin: wasmModule(
			typeSec(functype([]byte{tI32}, nil), functype(nil, nil)),
			importSec(impFunc("env", "report", 0)),
			funcSec(1, 1),
			tableSec(table(tFuncref, 1)),
			memSec(1),
			startSec(1),
			elemSec(elemActive(0, 2)),
			dataCountSec(2),
			codeSec(
				body([]local{{1, tI32}},
					opLoop, btEmpty,
					lget(0), call(0),
					countTo(0, i32c(3)),
					opEnd,
					i32c(0), i32c(0), i32c(4), misc(8, 0, 0), // memory.init 0
					i32c(0), mem(opI32Load, 2, 0), call(0),
					i32c(0), opCallIndirect, 1, 0,
					misc(9, 1), // data.drop 1
					opEnd),
				body(nil, i32c(99), call(0), opEnd),
			),
			dataSec(dataPassive([]byte("abcd")), dataActive(8, []byte("xy"))),
		),
		flag: 0, loops: 1,
		ids:     []byte{1, 2, 3, 4, 5, 6, 7, 9, 12, 10, 11}, // the start section became an export
		setup:   reportHost,
		reports: []int32{0, 1, 2, 0x64636261, 99},
	})

	cases = append(cases, structCase{
		name: "type function and code only",
		bin: wasmModule(
			typeSec(functype(nil, nil)),
			funcSec(0),
			memSec(0, 0),
			customSec("before-code", []byte{opLoop, btEmpty, opEnd}),
			codeSec(body([]local{{1, tI32}}, opLoop, btEmpty, countTo(0, i32c(10)), opEnd, opEnd)),
		),
		flag: 0, loops: 1,
		ids: []byte{1, 3, 5, 0, 6, 7, 10},
	})

	cases = append(cases, structCase{
		name: "memory only",
		bin:  wasmModule(memSec(0, 0)),
		ids:  []byte{5, 6, 7},
	})

	cases = append(cases, structCase{
		name: "existing globals and exports",
		bin: wasmModule(
			typeSec(functype(nil, []byte{tI32})),
			funcSec(0),
			memSec(0, 0),
			globalSec(global(tI32, true, i32c(5)), global(tI64, false, i64c(-3)),
				global(tF64, true, f64c(math.Float64bits(1.5)))),
			exportSec(exp("get", kFunc, 0), exp("g0", kGlobal, 0), exp("g1", kGlobal, 1)),
			codeSec(body([]local{{2, tI32}},
				opLoop, btEmpty,
				lget(0), gget(0), opI32Add, lset(0),
				countTo(1, i32c(3)),
				opEnd,
				lget(0), gget(1), opI32WrapI64, opI32Add,
				opEnd)),
		),
		flag: 3, loops: 1,
		ids:     []byte{1, 3, 5, 6, 7, 10},
		globals: map[string]uint64{"g0": api.EncodeI32(5), "g1": api.EncodeI64(-3)},
		calls:   []wcall{{fn: "get", want: i32s(12), loops: true}},
	})

	cases = append(cases, structCase{
		name: "imported globals",
		bin: wasmModule(
			typeSec(functype(nil, []byte{tI32})),
			importSec(
				impFunc("prov", "f", 0),
				impGlobal("prov", "gi", tI32, false),
				impMem("prov", "mem", 1, 2),
				impGlobal("prov", "gm", tI64, true),
				impTable("prov", "tab", tFuncref, 1),
			),
			funcSec(0),
			globalSec(global(tI32, true, i32c(100)), global(tI32, false, i32c(1)), global(tF32, true, f32c(0))),
			exportSec(exp("sum", kFunc, 1)),
			codeSec(body([]local{{2, tI32}},
				opLoop, btEmpty,
				lget(0), gget(0), opI32Add, gget(2), opI32Add, lset(0),
				countTo(1, i32c(2)),
				opEnd,
				lget(0), gget(1), opI32WrapI64, opI32Add, call(0), opI32Add,
				i32c(0), mem(opI32Load, 2, 0), opI32Add, gget(3), opI32Add,
				opEnd)),
		),
		flag: 5, loops: 1, // 2 imported + 3 defined
		setup: func(t *testing.T, ctx context.Context, r wazero.Runtime) func() []int32 {
			if _, err := r.InstantiateWithConfig(ctx, providerModule, wazero.NewModuleConfig().WithName("prov")); err != nil {
				t.Fatal(err)
			}
			return nil
		},
		calls: []wcall{{fn: "sum", want: i32s(2*(7+100) + 9 + 11 + 1000 + 1), loops: true}},
	})

	cases = append(cases, structCase{
		name: "130 globals: flag index needs two LEB bytes",
		bin:  manyGlobals(130), flag: 130, loops: 1,
		calls: []wcall{{fn: "get", want: i32s(3 + 129), loops: true}},
	})
	cases = append(cases, structCase{
		name: "127 globals: the count grows to two LEB bytes",
		bin:  manyGlobals(127), flag: 127, loops: 1,
		calls: []wcall{{fn: "get", want: i32s(3 + 126), loops: true}},
	})
	cases = append(cases, structCase{
		name: "127 exports: the count grows to two LEB bytes",
		bin:  manyExports(127), flag: 0, loops: 1,
		calls: []wcall{{fn: "get", want: i32s(3), loops: true}, {fn: "e126", want: i32s(3), loops: true}},
	})

	cases = append(cases, structCase{
		name: "long loops",
		bin: wasmModule(
			typeSec(functype([]byte{tI32}, []byte{tI32})),
			funcSec(0),
			memSec(0, 0),
			exportSec(exp("count", kFunc, 0)),
			codeSec(body([]local{{1, tI32}}, opLoop, btEmpty, countTo(1, lget(0)), opEnd, lget(1), opEnd)),
		),
		flag: 0, loops: 1,
		ids: []byte{1, 3, 5, 6, 7, 10},
		calls: []wcall{
			{fn: "count", args: i32s(1023), want: i32s(1023), loops: true},
			{fn: "count", args: i32s(1024), want: i32s(1024), loops: true},
			{fn: "count", args: i32s(100000), want: i32s(100000), loops: true},
		},
	})
	cases = append(cases, structCase{
		name: "long loop with an imported memory",
		bin: wasmModule(
			typeSec(functype([]byte{tI32}, []byte{tI32})),
			importSec(impMem("prov", "mem", 1)),
			funcSec(0),
			exportSec(exp("count", kFunc, 0)),
			codeSec(body([]local{{1, tI32}},
				opLoop, btEmpty, countTo(1, lget(0)), opEnd,
				lget(1), i32c(0), mem(opI32Load, 2, 0), opI32Add, opEnd)),
		),
		flag: 0, loops: 1,
		ids: []byte{1, 2, 3, 6, 7, 10},
		setup: func(t *testing.T, ctx context.Context, r wazero.Runtime) func() []int32 {
			if _, err := r.InstantiateWithConfig(ctx, providerModule, wazero.NewModuleConfig().WithName("prov")); err != nil {
				t.Fatal(err)
			}
			return nil
		},
		calls: []wcall{{fn: "count", args: i32s(5000), want: i32s(5000 + 1000), loops: true}},
	})

	cases = append(cases, structCase{
		name: "nested loops",
		bin: wasmModule(
			typeSec(functype([]byte{tI32, tI32}, []byte{tI32}), functype([]byte{tI32}, []byte{tI32})),
			funcSec(0, 1),
			memSec(0, 0),
			exportSec(exp("nest", kFunc, 0), exp("ifloop", kFunc, 1)),
			codeSec(
				body([]local{{3, tI32}}, // 2 = i, 3 = j, 4 = count
					opLoop, btEmpty,
					i32c(0), lset(3),
					opLoop, btEmpty,
					incr(4, 1),
					countTo(3, lget(1)),
					opEnd,
					countTo(2, lget(0)),
					opEnd,
					lget(4), opEnd),
				body(nil,
					lget(0), opIf, tI32,
					opBlock, tI32, opLoop, tI32, i32c(1), opEnd, opEnd,
					opElse, i32c(2),
					opEnd,
					opEnd),
			),
		),
		flag: 0, loops: 2, // back-edges: the result-typed loop never branches back
		calls: []wcall{
			{fn: "nest", args: i32s(3, 4), want: i32s(12), loops: true},
			{fn: "nest", args: i32s(1, 1), want: i32s(1), loops: true},
			{fn: "nest", args: i32s(300, 700), want: i32s(300 * 700), loops: true}, // past many exits
			{fn: "ifloop", args: i32s(1), want: i32s(1), loops: false},
			{fn: "ifloop", args: i32s(0), want: i32s(2)}, // never reaches its loop
		},
	})

	{
		// Type 1 is a loop type [i32] -> [i32]; type 70 is the same, with an
		// index that takes two bytes as an s33.
		types := [][]byte{functype([]byte{tI32}, []byte{tI32}), functype([]byte{tI32}, []byte{tI32})}
		for len(types) < 70 {
			types = append(types, functype(nil, nil))
		}
		types = append(types, functype([]byte{tI32}, []byte{tI32}))
		countWith := func(bt []byte) []byte {
			return body([]local{{1, tI32}},
				i32c(0),
				opLoop, bt,
				i32c(1), opI32Add, ltee(1), lget(1), lget(0), opI32LtS, brIf(0),
				opEnd,
				opEnd)
		}
		cases = append(cases, structCase{
			name: "loop block types: value, type index, two-byte type index",
			bin: wasmModule(
				typeSec(types...),
				funcSec(0, 0, 0),
				memSec(0, 0),
				exportSec(exp("sumdown", kFunc, 0), exp("count1", kFunc, 1), exp("count70", kFunc, 2)),
				codeSec(
					body([]local{{1, tI32}},
						opLoop, tI32,
						lget(1), lget(0), opI32Add, lset(1),
						lget(0), i32c(1), opI32Sub, ltee(0), brIf(0),
						lget(1),
						opEnd,
						opEnd),
					countWith(leb128.AppendInt(nil, 1)),
					countWith(leb128.AppendInt(nil, 70)),
				),
			),
			flag: 0, loops: 3,
			calls: []wcall{
				{fn: "sumdown", args: i32s(4), want: i32s(10), loops: true},
				{fn: "count1", args: i32s(5), want: i32s(5), loops: true},
				{fn: "count70", args: i32s(5), want: i32s(5), loops: true},
			},
		})
	}

	cases = append(cases, structCase{
		name: "br_table",
		bin: wasmModule(
			typeSec(functype(nil, []byte{tI32})),
			funcSec(0),
			memSec(0, 0),
			exportSec(exp("f", kFunc, 0)),
			codeSec(body([]local{{2, tI32}}, // 0 = i, 1 = acc
				opLoop, btEmpty,
				opBlock, btEmpty, opBlock, btEmpty, opBlock, btEmpty,
				lget(0), opBrTable, 2, 0, 1, 2,
				opEnd,
				incr(1, 10), br(1),
				opEnd,
				incr(1, 20),
				opEnd,
				incr(1, 1),
				countTo(0, i32c(3)),
				opEnd,
				lget(1), opEnd)),
		),
		flag: 0, loops: 1,
		calls: []wcall{{fn: "f", want: i32s(33), loops: true}},
	})

	cases = append(cases, structCase{
		name: "call_indirect",
		bin: wasmModule(
			typeSec(functype(nil, []byte{tI32})),
			funcSec(0, 0, 0),
			tableSec(table(tFuncref, 2)),
			memSec(0, 0),
			exportSec(exp("main", kFunc, 2)),
			elemSec(elemActive(0, 0, 1)),
			codeSec(
				body(nil, i32c(3), opEnd),
				body(nil, i32c(4), opEnd),
				body([]local{{2, tI32}},
					opLoop, btEmpty,
					lget(1), lget(0), opCallIndirect, 0, 0, opI32Add, lset(1),
					countTo(0, i32c(2)),
					opEnd,
					lget(1), opEnd),
			),
		),
		flag: 0, loops: 1,
		calls: []wcall{{fn: "main", want: i32s(7), loops: true}},
	})

	cases = append(cases, structCase{
		name: "memory access with memargs",
		bin: wasmModule(
			typeSec(functype(nil, []byte{tI32})),
			funcSec(0),
			memSec(2),
			exportSec(exp("mem", kFunc, 0)),
			codeSec(body([]local{{2, tI32}}, // 0 = i, 1 = acc
				i32c(0), i64c(0x0807060504030201), mem(opI64Store, 3, 300),
				i32c(0), i32c(0x03030303), mem(opI32Store, 2, 65000),
				opLoop, btEmpty,
				lget(1), lget(0), mem(opI32Load8U, 0, 300), opI32Add, lset(1),
				countTo(0, i32c(8)),
				opEnd,
				lget(1),
				i32c(0), mem(opI32Load, 2, 65000), i32c(0xFF), opI32And, opI32Add,
				i32c(0), mem(opI64Load16S, 1, 301), opI32WrapI64, opI32Add,
				i32c(295), opI32Load8U, 0x00, 0x85, 0x80, 0x80, 0x00, opI32Add, // offset 5, padded LEB
				opMemorySize, 0x00, opI32Add,
				i32c(0), opMemoryGrow, 0x00, opI32Add,
				opEnd)),
		),
		flag: 0, loops: 1,
		calls: []wcall{{fn: "mem", want: i32s(36 + 3 + 0x0302 + 1 + 2 + 2), loops: true}},
	})

	{
		type constFn struct {
			code []byte
			i64  bool
			want uint64
		}
		fns := []constFn{
			{i32c(-1), false, api.EncodeI32(-1)},
			{i32c(-64), false, api.EncodeI32(-64)}, // 0x40, the empty block type
			{i32c(-65), false, api.EncodeI32(-65)},
			{i32c(math.MinInt32), false, api.EncodeI32(math.MinInt32)},
			{i32c(math.MaxInt32), false, api.EncodeI32(math.MaxInt32)},
			{i32c(3), false, api.EncodeI32(3)},   // the loop opcode
			{i32c(11), false, api.EncodeI32(11)}, // the end opcode
			{i32c(64), false, api.EncodeI32(64)},
			{i64c(math.MinInt64), true, api.EncodeI64(math.MinInt64)},
			{i64c(math.MaxInt64), true, api.EncodeI64(math.MaxInt64)},
			{i64c(-1), true, api.EncodeI64(-1)},
			{i64c(-64), true, api.EncodeI64(-64)},
			{i64c(0x0303030303030303), true, 0x0303030303030303},
			{ops(f32c(0x0B034003), opI32ReinterpretF32), false, 0x0B034003},                // loop; empty; loop; end
			{ops(f64c(0x0B0340030B034003), opI64ReinterpretF64), true, 0x0B0340030B034003}, // the same, twice
			{ops(f32c(math.Float32bits(-2.5)), opI32ReinterpretF32), false, uint64(math.Float32bits(-2.5))},
			{ops(f64c(math.Float64bits(math.Inf(-1))), opI64ReinterpretF64), true, math.Float64bits(math.Inf(-1))},
		}
		var types []uint32
		var exports, bodies [][]byte
		var calls []wcall
		for i, f := range fns {
			typ := uint32(0)
			if f.i64 {
				typ = 1
			}
			types = append(types, typ)
			exports = append(exports, exp(fmt.Sprintf("c%d", i), kFunc, uint32(i)))
			bodies = append(bodies, body(nil, opLoop, btEmpty, opEnd, f.code, opLoop, btEmpty, opEnd, opEnd))
			calls = append(calls, wcall{fn: fmt.Sprintf("c%d", i), want: []uint64{f.want}, loops: false})
		}
		cases = append(cases, structCase{
			name: "constants: negative LEB, floats whose bytes look like opcodes",
			bin: wasmModule(
				typeSec(functype(nil, []byte{tI32}), functype(nil, []byte{tI64})),
				funcSec(types...),
				memSec(0, 0),
				exportSec(exports...),
				codeSec(bodies...),
			),
			flag: 0, loops: 0, // its loops never branch back
			calls: calls,
		})
	}

	cases = append(cases, structCase{
		name: "0xFC: saturating truncation and bulk memory",
		bin: wasmModule(
			typeSec(functype(nil, []byte{tI32})),
			funcSec(0, 0),
			memSec(1),
			exportSec(exp("sat", kFunc, 0), exp("bulk", kFunc, 1)),
			dataCountSec(2),
			codeSec(
				body(nil,
					f32c(math.Float32bits(1e10)), misc(0), // i32.trunc_sat_f32_s
					f32c(math.Float32bits(-5)), misc(1), opI32Add, // i32.trunc_sat_f32_u
					f64c(math.Float64bits(-1e300)), misc(2), opDrop, // i32.trunc_sat_f64_s
					f64c(math.Float64bits(-1)), misc(3), opI32Add, // i32.trunc_sat_f64_u
					f32c(math.Float32bits(1e30)), misc(4), opDrop, // i64.trunc_sat_f32_s
					f32c(math.Float32bits(-1)), misc(5), opDrop, // i64.trunc_sat_f32_u
					f64c(math.Float64bits(math.NaN())), misc(6), opI32WrapI64, opI32Add, // i64.trunc_sat_f64_s
					f64c(math.Float64bits(1e300)), misc(7), opI32WrapI64, opI32Add, // i64.trunc_sat_f64_u
					opLoop, btEmpty, opEnd,
					opEnd),
				body([]local{{2, tI32}},
					i32c(16), i32c(0), i32c(5), misc(8, 0, 0), // memory.init 0
					misc(9, 1),                                  // data.drop 1
					i32c(32), i32c(16), i32c(5), misc(10, 0, 0), // memory.copy
					i32c(40), i32c(3), i32c(4), misc(11, 0), // memory.fill
					opLoop, btEmpty,
					lget(1), lget(0), mem(opI32Load8U, 0, 32), opI32Add, lset(1),
					countTo(0, i32c(12)),
					opEnd,
					lget(1), opEnd),
			),
			dataSec(dataPassive([]byte("hello")), dataActive(100, []byte("zz"))),
		),
		flag: 0, loops: 1,
		calls: []wcall{
			{fn: "sat", want: i32s(math.MaxInt32 - 1), loops: false},
			{fn: "bulk", want: i32s('h' + 'e' + 'l' + 'l' + 'o' + 4*3), loops: true},
		},
	})

	cases = append(cases, structCase{
		name: "typed select, references and tables",
		bin: wasmModule(
			typeSec(functype([]byte{tI32}, []byte{tI32}), functype(nil, []byte{tI32})),
			funcSec(0, 1, 1, 1),
			tableSec(table(tFuncref, 2), table(tExternref, 1)),
			memSec(0, 0),
			exportSec(exp("sel", kFunc, 0), exp("refs", kFunc, 1), exp("tables", kFunc, 2)),
			elemSec(elemPassive(3), elemDeclarative(3)),
			codeSec(
				body([]local{{1, tFuncref}, {2, tExternref}, {1, tI32}},
					opLoop, btEmpty,
					i32c(10), i32c(20), lget(0), opSelectT, 1, tI32, lset(4),
					opEnd,
					lget(4), opEnd),
				body(nil,
					opRefNull, tFuncref, opRefIsNull,
					opRefFunc, 3, opRefIsNull, opI32Add,
					opRefNull, tExternref, opRefIsNull, opI32Add,
					opRefNull, tFuncref, opRefFunc, 3, i32c(0), opSelectT, 1, tFuncref, opRefIsNull, opI32Add,
					opLoop, btEmpty, opEnd,
					opEnd),
				body(nil,
					i32c(0), opRefFunc, 3, opTableSet, 0,
					i32c(0), opTableGet, 0, opRefIsNull,
					misc(16, 0), opI32Add, // table.size 0
					i32c(1), opRefNull, tFuncref, i32c(1), misc(17, 0), // table.fill 0
					i32c(1), i32c(0), i32c(1), misc(12, 0, 0), // table.init 0 0
					i32c(0), i32c(1), i32c(1), misc(14, 0, 0), // table.copy 0 0
					misc(13, 1),                                         // elem.drop 1
					opRefNull, tFuncref, i32c(0), misc(15, 0), opI32Add, // table.grow 0
					misc(16, 1), opI32Add, // table.size 1
					i32c(0), opTableGet, 1, opRefIsNull, opI32Add,
					opLoop, btEmpty, opEnd,
					i32c(1), opCallIndirect, 1, 0, opI32Add,
					opEnd),
				body(nil, i32c(5), opEnd),
			),
		),
		flag: 0, loops: 0,
		calls: []wcall{
			{fn: "sel", args: i32s(1), want: i32s(10), loops: false},
			{fn: "sel", args: i32s(0), want: i32s(20), loops: false},
			{fn: "refs", want: i32s(2), loops: false},
			{fn: "tables", want: i32s(0 + 2 + 2 + 1 + 1 + 5), loops: false},
		},
	})

	cases = append(cases, structCase{
		name: "several groups of locals",
		bin: wasmModule(
			typeSec(functype([]byte{tI32}, []byte{tI32})),
			funcSec(0),
			memSec(0, 0),
			exportSec(exp("f", kFunc, 0)),
			codeSec(body([]local{{2, tI32}, {1, tI64}, {3, tF64}, {130, tI32}, {1, tF32}},
				opLoop, btEmpty,
				incr(136, 1),
				lget(136), lget(0), opI32LtS, brIf(0),
				opEnd,
				lget(136),
				f64c(math.Float64bits(2.5)), lset(5), lget(5), opI32TruncF64S, opI32Add,
				i64c(7), lset(3), lget(3), opI32WrapI64, opI32Add,
				f32c(math.Float32bits(1)), lset(137),
				opEnd)),
		),
		flag: 0, loops: 1,
		calls: []wcall{{fn: "f", args: i32s(4), want: i32s(4 + 2 + 7), loops: true}},
	})

	cases = append(cases, structCase{
		name: "custom sections everywhere",
		bin: wasmModule(
			customSec("first", []byte{opLoop, btEmpty, opEnd, 0x80}),
			typeSec(functype(nil, []byte{tI32})),
			customSec("middle", []byte("\x03\x40\x0b")),
			funcSec(0),
			memSec(0, 0),
			exportSec(exp("f", kFunc, 0)),
			codeSec(body([]local{{1, tI32}}, opLoop, btEmpty, countTo(0, i32c(5)), opEnd, lget(0), opEnd)),
			customSec("last", bytes.Repeat([]byte{opLoop}, 200)),
		),
		flag: 0, loops: 1,
		ids:   []byte{0, 1, 0, 3, 5, 6, 7, 10, 0},
		calls: []wcall{{fn: "f", want: i32s(5), loops: true}},
	})

	cases = append(cases, structCase{
		name:     "tail calls",
		features: api.CoreFeaturesV2 | experimental.CoreFeaturesTailCall,
		bin: wasmModule(
			typeSec(functype([]byte{tI32}, []byte{tI32}), functype(nil, []byte{tI32})),
			funcSec(0, 1, 0),
			tableSec(table(tFuncref, 1)),
			memSec(0, 0),
			exportSec(exp("countdown", kFunc, 0), exp("viatable", kFunc, 1)),
			elemSec(elemActive(0, 2)),
			codeSec(
				body(nil,
					opLoop, btEmpty, opEnd,
					lget(0), opI32Eqz, opIf, tI32, i32c(42),
					opElse, lget(0), i32c(1), opI32Sub, opReturnCall, 0,
					opEnd,
					opEnd),
				body(nil, opLoop, btEmpty, opEnd, i32c(5), i32c(0), opReturnCallIndirect, 0, 0, opEnd),
				body(nil, lget(0), i32c(100), opI32Add, opEnd),
			),
		),
		flag: 0, loops: 2, // before each tail call
		calls: []wcall{
			{fn: "countdown", args: i32s(10), want: i32s(42), loops: true},
			{fn: "viatable", want: i32s(105), loops: true},
		},
	})

	cases = append(cases, structCase{
		name:     "typed function references",
		features: api.CoreFeaturesV2 | experimental.CoreFeaturesTypedFunctionReferences,
		bin: wasmModule(
			typeSec(functype(nil, []byte{tI32}), functype([]byte{tI32}, []byte{tI32})),
			funcSec(0, 1),
			memSec(0, 0),
			exportSec(exp("k", kFunc, 0), exp("main", kFunc, 1)),
			codeSec(
				body(nil, i32c(7), opEnd),
				body([]local{{1, tI32}},
					opRefFunc, 0, opRefAsNonNull,
					opBlock, btEmpty, opLoop, btEmpty,
					incr(1, 1),
					lget(0), i32c(1), opI32Sub, ltee(0), brIf(0),
					opEnd, opEnd,
					opCallRef, 0,
					lget(1), opI32Add,
					opBlock, btEmpty, opRefNull, tFuncref, opBrOnNull, 0, opDrop, opEnd,
					opBlock, 0x63, 0x00, opRefFunc, 0, opBrOnNonNull, 0, opRefNull, 0x00, opEnd,
					opRefIsNull, opI32Add,
					opEnd),
			),
		),
		flag: 0, loops: 1,
		calls: []wcall{{fn: "main", args: i32s(3), want: i32s(7 + 3), loops: true}},
	})

	return cases
}

// runtimeConfig is the configuration of the tests' runtimes: the compiler
// where wazero has one, as neuron uses, and no context watching.
func runtimeConfig(features api.CoreFeatures) wazero.RuntimeConfig {
	cfg := wazero.NewRuntimeConfig().WithCloseOnContextDone(false)
	if features != 0 {
		cfg = cfg.WithCoreFeatures(features)
	}
	return cfg
}

func mustInstrument(t testing.TB, bin []byte) []byte {
	t.Helper()
	out, err := Instrument(bin)
	if err != nil {
		t.Fatalf("Instrument: %v", err)
	}
	return out
}

func TestInstrumentStructure(t *testing.T) {
	ctx := context.Background()
	for _, tc := range structuralCases() {
		t.Run(tc.name, func(t *testing.T) {
			in := bytes.Clone(tc.bin)
			out := mustInstrument(t, tc.bin)
			if !bytes.Equal(in, tc.bin) {
				t.Fatal("Instrument changed its input")
			}
			checkStructure(t, tc.bin, out, tc.flag, tc.loops)
			if tc.ids != nil {
				if got := sectionIDs(splitModule(t, out)); !bytes.Equal(got, tc.ids) {
					t.Errorf("section ids %v, want %v", got, tc.ids)
				}
			}
			if got := exportsOf(t, out)[Global]; got != [2]uint32{uint32(kGlobal), tc.flag} {
				t.Errorf("export %q is kind %d index %d, want global %d", Global, got[0], got[1], tc.flag)
			}

			instantiate := func(bin []byte) (api.Module, func() []int32) {
				t.Helper()
				r := wazero.NewRuntimeWithConfig(ctx, runtimeConfig(tc.features))
				t.Cleanup(func() { r.Close(ctx) })
				var reports func() []int32
				if tc.setup != nil {
					reports = tc.setup(t, ctx, r)
				}
				compiled, err := r.CompileModule(ctx, bin)
				if err != nil {
					t.Fatalf("compile: %v", err)
				}
				mod, err := r.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName("m"))
				if err != nil {
					t.Fatalf("instantiate: %v", err)
				}
				if start := mod.ExportedFunction(StartExport); start != nil { // as the runtime does
					if _, err := start.Call(ctx); err != nil {
						t.Fatalf("%s: %v", StartExport, err)
					}
				}
				return mod, reports
			}
			orig, origReports := instantiate(tc.bin)
			inst, instReports := instantiate(out)

			if orig.ExportedGlobal(Global) != nil {
				t.Fatalf("the original module exports %q", Global)
			}
			g := inst.ExportedGlobal(Global)
			if g == nil {
				t.Fatalf("no export %q", Global)
			}
			flag, ok := g.(api.MutableGlobal)
			if !ok || g.Type() != api.ValueTypeI32 || g.Get() != 0 {
				t.Fatalf("%q is %s (mutable %v), want a mutable i32 that is 0", Global, g, ok)
			}

			if tc.setup != nil {
				var a, b []int32
				if origReports != nil {
					a, b = origReports(), instReports()
				}
				if !reflect.DeepEqual(a, tc.reports) || !reflect.DeepEqual(b, tc.reports) {
					t.Errorf("reports: original %v, instrumented %v, want %v", a, b, tc.reports)
				}
			}
			for nm, want := range tc.globals {
				for _, m := range []api.Module{orig, inst} {
					if g := m.ExportedGlobal(nm); g == nil || g.Get() != want {
						t.Errorf("global %s is %v, want %#x", nm, g, want)
					}
				}
			}

			run := func(m api.Module, c wcall) ([]uint64, error) {
				t.Helper()
				fn := m.ExportedFunction(c.fn)
				if fn == nil {
					t.Fatalf("no function %s", c.fn)
				}
				return fn.Call(ctx, c.args...)
			}
			same := func(phase string) {
				t.Helper()
				for _, c := range tc.calls {
					a, err := run(orig, c)
					if err != nil {
						t.Fatalf("original %s%v: %v", c.fn, c.args, err)
					}
					b, err := run(inst, c)
					if err != nil {
						t.Fatalf("%s: instrumented %s%v: %v", phase, c.fn, c.args, err)
					}
					if !reflect.DeepEqual(a, c.want) || !reflect.DeepEqual(b, c.want) {
						t.Errorf("%s: %s%v: original %#x, instrumented %#x, want %#x", phase, c.fn, c.args, a, b, c.want)
					}
				}
			}
			same("before stopping")

			flag.Set(1)
			for _, c := range tc.calls {
				got, err := run(inst, c)
				switch {
				case c.loops && (err == nil || !strings.Contains(err.Error(), "unreachable")):
					t.Errorf("flag set: %s%v returned %#x, %v; want the unreachable trap", c.fn, c.args, got, err)
				case !c.loops && (err != nil || !reflect.DeepEqual(got, c.want)):
					t.Errorf("flag set: %s%v returned %#x, %v; want %#x: it runs no loop", c.fn, c.args, got, err, c.want)
				}
			}
			flag.Set(0)
			same("after stopping")
		})
	}
}

// TestInstrumentTwice checks that a module that already exports the flag's
// name is refused rather than given a second export of it, which would make
// it invalid.
func TestInstrumentTwice(t *testing.T) {
	once := mustInstrument(t, structuralCases()[0].bin)
	if _, err := Instrument(once); err == nil {
		t.Fatal("instrumenting an instrumented module succeeded")
	}
	own := wasmModule(
		globalSec(global(tI32, true, i32c(0))),
		exportSec(exp(Global, kGlobal, 0)),
	)
	if _, err := Instrument(own); err == nil {
		t.Fatalf("instrumenting a module with its own %q export succeeded", Global)
	}
}

// ---------------------------------------------------------------------------
// Stopping.
// ---------------------------------------------------------------------------

var stopModule = wasmModule(
	typeSec(functype(nil, nil), functype(nil, []byte{tI32})),
	funcSec(0, 0, 1, 1, 0, 0),
	memSec(0, 0),
	globalSec(global(tI64, true, i64c(0))),
	exportSec(exp("spin", kFunc, 0), exp("spincall", kFunc, 1), exp("count", kFunc, 2),
		exp("ok", kFunc, 3), exp("nested", kFunc, 4)),
	codeSec(
		body(nil, opLoop, btEmpty, br(0), opEnd, opEnd),          // spin
		body(nil, opLoop, btEmpty, call(5), br(0), opEnd, opEnd), // spincall
		body([]local{{1, tI64}}, // count
			opLoop, btEmpty,
			lget(0), i64c(1), opI64Add, ltee(0), i64c(0), opI64Ne, brIf(0),
			opEnd,
			i32c(0), opEnd),
		body(nil, i32c(1), opEnd), // ok
		body(nil, opLoop, btEmpty, opLoop, btEmpty, br(0), opEnd, opEnd, opEnd), // nested
		body(nil, gget(0), i64c(1), opI64Add, gset(0), opEnd),                   // inc
	),
)

// refLoopModule spins in a loop right after ref.as_non_null, which an
// earlier walker took for br_on_null and so read the block after it as a
// label, missing the loop.
var refLoopModule = wasmModule(
	typeSec(functype(nil, nil)),
	funcSec(0),
	memSec(0, 0),
	exportSec(exp("spin", kFunc, 0)),
	codeSec(body(nil,
		opRefFunc, 0, opRefAsNonNull,
		opBlock, btEmpty, opLoop, btEmpty, br(0), opEnd, opEnd,
		opDrop, opEnd)),
)

// stopCall runs call in a goroutine, sets flag after 50ms and checks that
// the call then fails with the unreachable trap.
func stopCall(t *testing.T, flag api.MutableGlobal, call func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		t.Fatalf("the call returned before the flag was set: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	flag.Set(1)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("stopped call returned %v, want the unreachable trap", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call still runs 10s after the flag was set")
	}
}

// The interpreter is left out: it reads globals as plain Go memory, so a
// flag set from another goroutine is a data race that -race reports. neuron
// runs the compiler, whose code reads the global itself.
func TestStop(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, fn string
		bin      []byte
		features api.CoreFeatures
	}{
		{"empty loop", "spin", stopModule, 0},
		{"loop with a call", "spincall", stopModule, 0},
		{"counting loop", "count", stopModule, 0},
		{"inner loop", "nested", stopModule, 0},
		{"loop after ref.as_non_null", "spin", refLoopModule,
			api.CoreFeaturesV2 | experimental.CoreFeaturesTypedFunctionReferences},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := wazero.NewRuntimeWithConfig(ctx, runtimeConfig(tc.features))
			defer r.Close(ctx)
			mod, err := r.InstantiateWithConfig(ctx, mustInstrument(t, tc.bin), wazero.NewModuleConfig().WithName(""))
			if err != nil {
				t.Fatal(err)
			}
			flag := mod.ExportedGlobal(Global).(api.MutableGlobal)
			fn := mod.ExportedFunction(tc.fn)
			for round := range 2 { // the instance survives a stop
				t.Logf("round %d", round)
				stopCall(t, flag, func() error { _, err := fn.Call(ctx); return err })
				flag.Set(0)
				if ok := mod.ExportedFunction("ok"); ok != nil {
					if res, err := ok.Call(ctx); err != nil || res[0] != 1 {
						t.Fatalf("ok after a stop: %v, %v", res, err)
					}
				}
			}
		})
	}
}

// gcChildEnv marks the child process of TestGCWhileSpinning.
const gcChildEnv = "INTERRUPT_TEST_GC_CHILD"

// TestGCWhileSpinning checks that a garbage collection can stop the world
// while a guest spins in a loop that calls nothing. Go cannot preempt
// compiled Wasm code, so if the loop never left it the collection would wait
// forever for its thread, and everything else with it, including whatever
// would set the flag. The test runs in a child process, which it kills if
// it hangs.
func TestGCWhileSpinning(t *testing.T) {
	if os.Getenv(gcChildEnv) != "" {
		gcWhileSpinning(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGCWhileSpinning$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), gcChildEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out.Bytes())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("child hung: a garbage collection waited for a spinning guest\n%s", out.Bytes())
	}
}

func gcWhileSpinning(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, runtimeConfig(0))
	defer r.Close(ctx)
	compiled, err := r.CompileModule(ctx, mustInstrument(t, stopModule))
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{"spin", "count", "nested", "spincall"} {
		mod, err := r.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName(""))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := mod.ExportedFunction(fn).Call(ctx); done <- err }()
		time.Sleep(20 * time.Millisecond)
		for range 3 {
			runtime.GC()
		}
		mod.ExportedGlobal(Global).(api.MutableGlobal).Set(1)
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "unreachable") {
				t.Fatalf("%s: %v", fn, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s not stopped", fn)
		}
		t.Logf("%s: collected and stopped", fn)
	}
}

func TestStopBeforeCall(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, runtimeConfig(0))
	defer r.Close(ctx)
	mod, err := r.Instantiate(ctx, mustInstrument(t, stopModule))
	if err != nil {
		t.Fatal(err)
	}
	mod.ExportedGlobal(Global).(api.MutableGlobal).Set(1)
	if _, err := mod.ExportedFunction("spin").Call(ctx); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("spin with the flag set: %v", err)
	}
	if res, err := mod.ExportedFunction("ok").Call(ctx); err != nil || res[0] != 1 {
		t.Fatalf("ok with the flag set: %v, %v", res, err)
	}
}

// TestStopOneInstance checks that each instance has its own flag.
func TestStopOneInstance(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, runtimeConfig(0))
	defer r.Close(ctx)
	compiled, err := r.CompileModule(ctx, mustInstrument(t, stopModule))
	if err != nil {
		t.Fatal(err)
	}
	var mods [2]api.Module
	var done [2]chan error
	for i := range mods {
		if mods[i], err = r.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithName("")); err != nil {
			t.Fatal(err)
		}
		done[i] = make(chan error, 1)
		go func() { _, err := mods[i].ExportedFunction("spin").Call(ctx); done[i] <- err }()
	}
	time.Sleep(50 * time.Millisecond)
	mods[0].ExportedGlobal(Global).(api.MutableGlobal).Set(1)
	select {
	case err := <-done[0]:
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("first instance: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("first instance not stopped")
	}
	select {
	case err := <-done[1]:
		t.Fatalf("second instance stopped with the first: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	mods[1].ExportedGlobal(Global).(api.MutableGlobal).Set(1)
	select {
	case <-done[1]:
	case <-time.After(10 * time.Second):
		t.Fatal("second instance not stopped")
	}
}

// ---------------------------------------------------------------------------
// Unsupported and malformed input.
// ---------------------------------------------------------------------------

// oneFunc is a module with one function () -> () of the given code, which
// must end with opEnd, and a memory.
func oneFunc(code ...any) []byte {
	return wasmModule(
		typeSec(functype(nil, nil)),
		funcSec(0),
		memSec(1),
		codeSec(body(nil, code...)),
	)
}

func unsupportedCases() []struct {
	name     string
	bin      []byte
	features api.CoreFeatures // if set, the input must compile with them
} {
	v128 := ops(0xFD, 0x0C, bytes.Repeat([]byte{opLoop}, 16))
	return []struct {
		name     string
		bin      []byte
		features api.CoreFeatures
	}{
		{"SIMD v128.const", oneFunc(v128, opDrop, opEnd), api.CoreFeaturesV2},
		{"SIMD after a loop", oneFunc(opLoop, btEmpty, opEnd, v128, v128, 0xFD, 0x6E, opDrop, opEnd), api.CoreFeaturesV2},
		{"SIMD in a second function", wasmModule(
			typeSec(functype(nil, nil)),
			funcSec(0, 0),
			codeSec(body(nil, opLoop, btEmpty, opEnd, opEnd), body(nil, v128, opDrop, opEnd)),
		), api.CoreFeaturesV2},
		{"threads", wasmModule(
			typeSec(functype(nil, nil)),
			funcSec(0),
			sec(5, vec([]byte{0x03, 1, 1})), // shared memory
			codeSec(body(nil, i32c(0), 0xFE, 0x10, 0x02, 0x00, opDrop, opEnd)),
		), api.CoreFeaturesV2 | experimental.CoreFeaturesThreads},
		{"GC", oneFunc(0xFB, 0x00, 0x00, opDrop, opEnd), 0},
		{"ref.eq", oneFunc(opRefNull, tFuncref, opRefNull, tFuncref, 0xD3, opDrop, opEnd), 0},
		{"try_table", oneFunc(0x1F, btEmpty, 0x00, opEnd, opEnd), 0},
		{"throw", oneFunc(0x08, 0x00, opEnd), 0},
		{"throw_ref", oneFunc(opRefNull, 0x69, 0x0A, opEnd), 0},
		{"legacy try", oneFunc(0x06, btEmpty, 0x19, opEnd, opEnd), 0},
		{"0xFC 18", oneFunc(misc(18, 0), opEnd), 0},
		{"0xFC with a long sub-opcode", oneFunc(0xFC, 0x80, 0x80, 0x04, opEnd), 0},
		{"reserved opcode 0x27", oneFunc(0x27, opEnd), 0},
		{"reserved opcode 0xC5", oneFunc(0xC5, opEnd), 0},
		{"reserved opcode 0xFF", oneFunc(0xFF, opEnd), 0},
	}
}

func TestUnsupported(t *testing.T) {
	ctx := context.Background()
	for _, tc := range unsupportedCases() {
		t.Run(tc.name, func(t *testing.T) {
			if tc.features != 0 {
				r := wazero.NewRuntimeWithConfig(ctx, runtimeConfig(tc.features))
				defer r.Close(ctx)
				if _, err := r.CompileModule(ctx, tc.bin); err != nil {
					t.Fatalf("the input does not compile: %v", err)
				}
			}
			out, err := Instrument(tc.bin)
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Instrument: %v, want ErrUnsupported", err)
			}
			if out != nil {
				t.Errorf("Instrument returned %d bytes with its error", len(out))
			}
		})
	}
}

// instrumentNoPanic calls Instrument, turning a panic into a test failure.
func instrumentNoPanic(t testing.TB, bin []byte) (out []byte, err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("Instrument(% x) panicked: %v", bin[:min(len(bin), 64)], p)
		}
	}()
	return Instrument(bin)
}

func malformedCases() map[string][]byte {
	hdr := "\x00asm\x01\x00\x00\x00"
	code := func(bodies ...[]byte) []byte { return ops([]byte(hdr), codeSec(bodies...)) }
	return map[string][]byte{
		"nil":                         nil,
		"empty":                       {},
		"short header":                []byte("\x00asm\x01\x00"),
		"magic only":                  []byte("\x00asm"),
		"ELF":                         []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
		"text format":                 []byte("(module (func))"),
		"section id only":             []byte(hdr + "\x01"),
		"section size past end":       []byte(hdr + "\x01\x05\x00"),
		"section size bad LEB":        []byte(hdr + "\x01\x80\x80\x80\x80\x80\x00"),
		"section size unterminated":   []byte(hdr + "\x01\x80\x80"),
		"second section past end":     ops([]byte(hdr), typeSec(functype(nil, nil)), 0x03, 0x10, 0x01),
		"code body size past end":     ops([]byte(hdr), sec(10, []byte{1, 16, 0, opEnd})),
		"code count past end":         ops([]byte(hdr), sec(10, []byte{3, 2, 0, opEnd})),
		"code count bad LEB":          ops([]byte(hdr), sec(10, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01})),
		"code section trailing bytes": ops([]byte(hdr), sec(10, []byte{1, 2, 0, opEnd, 0xFF})),
		"code body size bad LEB":      ops([]byte(hdr), sec(10, []byte{1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})),
		"empty body":                  code([]byte{}),
		"locals truncated":            code([]byte{2, 1}),
		"locals count bad LEB":        code([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80}),
		"local type truncated":        code([]byte{1, 1, 0x63}),
		"i32.const truncated":         code([]byte{0, 0x41}),
		"i32.const unterminated":      code([]byte{0, 0x41, 0x80}),
		"i64.const LEB too long":      code(ops(0, 0x42, bytes.Repeat([]byte{0x80}, 11), 0x00, opEnd)),
		"f32.const truncated":         code([]byte{0, 0x43, 1, 2}),
		"f64.const truncated":         code([]byte{0, 0x44, 1, 2, 3, 4, 5, 6, 7}),
		"br_table truncated":          code([]byte{0, 0x0E, 5, 0, 1}),
		"call_indirect truncated":     code([]byte{0, 0x11, 0}),
		"memarg truncated":            code([]byte{0, 0x28, 2}),
		"memarg memory truncated":     code([]byte{0, 0x28, 0x42}),
		"0xFC truncated":              code([]byte{0, 0xFC}),
		"memory.init truncated":       code([]byte{0, 0xFC, 8, 0}),
		"loop block type truncated":   code([]byte{0, opLoop}),
		"loop type index bad LEB":     code([]byte{0, opLoop, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}),
		"select t truncated":          code([]byte{0, 0x1C, 2, tI32}),
		"ref.null truncated":          code([]byte{0, opRefNull}),
		"global section bad count":    ops([]byte(hdr), sec(6, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80})),
		"global section empty":        ops([]byte(hdr), sec(6, nil)),
		"export section empty":        ops([]byte(hdr), sec(7, nil)),
		"export section bad count":    ops([]byte(hdr), sec(7, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80})),
		"export name past end":        ops([]byte(hdr), sec(7, []byte{1, 10, 'a'})),
		"import section truncated":    ops([]byte(hdr), sec(2, []byte{1, 3, 'e'})),
		"import kind unknown":         ops([]byte(hdr), importSec(ops(name("a"), name("b"), 0x05))),
		"import global truncated":     ops([]byte(hdr), sec(2, ops(1, name("a"), name("b"), kGlobal, tI32))),
		"import table limits missing": ops([]byte(hdr), sec(2, ops(1, name("a"), name("b"), kTable, tFuncref))),
		"import memory max missing":   ops([]byte(hdr), sec(2, ops(1, name("a"), name("b"), kMem, 0x01, 1))),
		"import count past end":       ops([]byte(hdr), importSec(impFunc("a", "b", 0))[:2], 0x05),
	}
}

func TestMalformed(t *testing.T) {
	for nm, bin := range malformedCases() {
		t.Run(nm, func(t *testing.T) {
			out, err := instrumentNoPanic(t, bin)
			if err == nil {
				t.Fatalf("no error; output % x", out)
			}
			if out != nil {
				t.Errorf("Instrument returned %d bytes with its error", len(out))
			}
		})
	}
}

// TestHugeCounts checks that a count of 2^32-1 in a short body fails at
// once instead of spinning over an exhausted reader.
func TestHugeCounts(t *testing.T) {
	huge := []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x0F}
	cases := map[string][]byte{
		"local groups":   huge,
		"br_table":       ops(0, opBrTable, huge),
		"br_table - 1":   ops(0, opBrTable, 0xFE, 0xFF, 0xFF, 0xFF, 0x0F),
		"select types":   ops(0, opSelectT, huge),
		"function count": nil,
	}
	for nm, fn := range cases {
		t.Run(nm, func(t *testing.T) {
			var bin []byte
			if fn == nil {
				bin = ops([]byte("\x00asm\x01\x00\x00\x00"), sec(10, huge))
			} else {
				bodies := make([][]byte, 100)
				for i := range bodies {
					bodies[i] = fn
				}
				bin = wasmModule(codeSec(bodies...))
			}
			done := make(chan error, 1)
			go func() { _, err := Instrument(bin); done <- err }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("no error")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Instrument still runs after 10s")
			}
		})
	}
}

// seeds returns every hand-built module, valid or not.
func seeds() [][]byte {
	var out [][]byte
	for _, tc := range structuralCases() {
		out = append(out, tc.bin)
	}
	out = append(out, providerModule, stopModule, refLoopModule)
	for _, tc := range unsupportedCases() {
		out = append(out, tc.bin)
	}
	for _, bin := range malformedCases() {
		out = append(out, bin)
	}
	return out
}

// TestTruncated instruments every prefix of every valid hand-built module:
// one that ends between sections is a module (left alone if it has no
// memory yet), any other must be refused.
func TestTruncated(t *testing.T) {
	for _, tc := range structuralCases() {
		ends := sectionEnds(tc.bin)
		for n := 0; n < len(tc.bin); n++ {
			_, err := instrumentNoPanic(t, tc.bin[:n])
			if ends[n] {
				if _, _, memories := moduleCounts(t, tc.bin[:n]); memories == 0 && errors.Is(err, ErrUnsupported) {
					continue
				}
			}
			if ends[n] && err != nil {
				t.Errorf("%s: prefix of %d bytes, which ends a section: %v", tc.name, n, err)
			}
			if !ends[n] && err == nil {
				t.Errorf("%s: prefix of %d bytes, cut inside a section, was accepted", tc.name, n)
			}
		}
	}
}

// fuzzFeatures are the features the fuzz target and TestMutations compile
// with: everything wazero knows, so that more inputs are valid.
const fuzzFeatures = api.CoreFeaturesV2 | experimental.CoreFeaturesThreads | experimental.CoreFeaturesTailCall |
	experimental.CoreFeaturesExtendedConst | experimental.CoreFeaturesExceptionHandling |
	experimental.CoreFeaturesTypedFunctionReferences

// fuzzRuntime returns an interpreter with fuzzFeatures, closed when tb ends.
func fuzzRuntime(tb testing.TB) (context.Context, wazero.Runtime) {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(fuzzFeatures))
	tb.Cleanup(func() { r.Close(ctx) })
	return ctx, r
}

// compileSafe reports whether bin can be given to wazero without risk of a
// huge allocation. wazero v1.12.0 sizes slices by the counts and lengths a
// module declares before reading what they count, so 22 bytes claiming a
// function type of 2^32 parameters make CompileModule allocate gigabytes and
// kill the fuzzing process. compileSafe follows every count wazero sizes a
// slice by and wants each to fit in the bytes left; it refuses what it does
// not follow, which only spares wazero an input.
func compileSafe(bin []byte) bool {
	if len(bin) < 8 {
		return true
	}
	c := &cursor{wasmbin.Reader{B: bin[8:]}}
	for len(c.B) > 0 && c.Err == nil {
		id, body := c.Section()
		s := &cursor{wasmbin.Reader{B: body}}
		if c.Err != nil || !s.section(id) {
			return false
		}
	}
	return c.Err == nil
}

// cursor is compileSafe's reader; any error is an irregularity.
type cursor struct{ wasmbin.Reader }

// errIrregular is what compileSafe does not follow.
var errIrregular = errors.New("irregular")

func (c *cursor) limits() {
	flags := c.Byte()
	c.LEB(10)
	if flags&1 != 0 {
		c.LEB(10)
	}
}

// expr reads a constant expression.
func (c *cursor) expr() {
	for c.Err == nil {
		switch op := c.Byte(); op {
		case opEnd:
			return
		case 0x41, 0x42, 0x23, opRefFunc, opRefNull:
			c.LEB(10)
		case 0x43:
			c.Take(4)
		case 0x44:
			c.Take(8)
		case 0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E:
		case 0xFD:
			if c.U32() != 0x0C {
				c.Fail(errIrregular)
			}
			c.Take(16)
		default:
			c.Fail(errIrregular)
		}
	}
}

func (c *cursor) section(id byte) bool {
	switch id {
	case 0:
		nm := string(c.Take(c.Count()))
		return nm != "name" // whose decoder sizes maps by counts
	case 8, 12:
		c.U32()
		return c.Err == nil
	}
	n := c.Count()
	for i := uint32(0); i < n && c.Err == nil; i++ {
		switch id {
		case 1:
			if c.Byte() != 0x60 {
				return false
			}
			for range 2 {
				for j := c.Count(); j > 0 && c.Err == nil; j-- {
					c.ValType()
				}
			}
		case 2:
			c.Name()
			c.Name()
			switch c.Byte() {
			case kFunc:
				c.U32()
			case kTable:
				c.ValType()
				c.limits()
			case kMem:
				c.limits()
			case kGlobal:
				c.ValType()
				c.Byte()
			case 0x04:
				c.Byte()
				c.U32()
			default:
				return false
			}
		case 3:
			c.U32()
		case 4:
			c.ValType()
			c.limits()
		case 5:
			c.limits()
		case 13:
			c.Byte()
			c.U32()
		case 6:
			c.ValType()
			c.Byte()
			c.expr()
		case 7:
			c.Name()
			c.Byte()
			c.U32()
		case 9:
			flags := c.U32()
			if flags > 7 {
				return false
			}
			if flags&3 == 2 {
				c.U32()
			}
			if flags&1 == 0 {
				c.expr()
			}
			if flags&3 != 0 {
				c.ValType() // element kind or reference type
			}
			for j := c.Count(); j > 0 && c.Err == nil; j-- {
				if flags&4 == 0 {
					c.U32()
				} else {
					c.expr()
				}
			}
		case 10:
			body := &cursor{wasmbin.Reader{B: c.Take(c.U32())}}
			var locals uint64
			for j := body.Count(); j > 0 && body.Err == nil; j-- {
				locals += uint64(body.U32())
				body.ValType()
			}
			if body.Err != nil || locals > 100000 {
				return false
			}
		case 11:
			flags := c.U32()
			switch flags {
			case 0:
				c.expr()
			case 1:
			case 2:
				c.U32()
				c.expr()
			default:
				return false
			}
			c.Take(c.Count())
		default:
			return false
		}
	}
	return c.Err == nil
}

// TestCompileSafe checks that the fuzz target's filter passes every valid
// hand-built module, so that the property is checked on them, and stops the
// input that made wazero allocate gigabytes.
func TestCompileSafe(t *testing.T) {
	valid := [][]byte{providerModule, stopModule, refLoopModule}
	for _, tc := range structuralCases() {
		valid = append(valid, tc.bin, mustInstrument(t, tc.bin))
	}
	for i, bin := range valid {
		if !compileSafe(bin) {
			t.Errorf("module %d refused", i)
		}
	}
	bomb := []byte("\x00asm\x01\x00\x00\x00\x01\x05\x01`\x99\x99\x99\x99\x01\xa7j\x03")
	if compileSafe(bomb) {
		t.Error("a type of 2^32 parameters passed")
	}
}

// compile compiles bin, turning a panic into an error: wazero v1.12.0
// panics on some invalid modules, such as one whose ref.func names a
// function past the last when typed function references are enabled.
func compile(ctx context.Context, r wazero.Runtime, bin []byte) (cm wazero.CompiledModule, err error) {
	defer func() {
		if p := recover(); p != nil {
			cm, err = nil, fmt.Errorf("wazero panicked: %v", p)
		}
	}()
	return r.CompileModule(ctx, bin)
}

// checkProperty is the fuzz property: Instrument never panics nor changes
// its input; for input wazero compiles it fails only with ErrUnsupported
// (or for a module that already exports one of its names), and its output
// compiles too, with the same exported functions and, for a module with a
// start function, StartExport.
func checkProperty(t testing.TB, ctx context.Context, r wazero.Runtime, bin []byte) {
	t.Helper()
	in := bytes.Clone(bin)
	out, err := instrumentNoPanic(t, bin)
	if !bytes.Equal(in, bin) {
		t.Fatal("Instrument changed its input")
	}
	if err != nil && out != nil {
		t.Fatalf("Instrument returned %d bytes with its error %v", len(out), err)
	}
	if !compileSafe(bin) {
		return
	}
	cin, cerr := compile(ctx, r, bin)
	if cerr != nil {
		return
	}
	defer cin.Close(ctx)
	if err != nil {
		if !errors.Is(err, ErrUnsupported) {
			exports := exportsOf(t, bin)
			_, flag := exports[Global]
			_, start := exports[StartExport]
			if !flag && !start {
				t.Fatalf("wazero compiles the input but Instrument fails: %v", err)
			}
		}
		return
	}
	cout, err := compile(ctx, r, out)
	if err != nil {
		t.Fatalf("wazero compiles the input but not the output: %v", err)
	}
	defer cout.Close(ctx)
	a, b := cin.ExportedFunctions(), cout.ExportedFunctions()
	added := 0
	if _, n := findSection(splitModule(t, bin), 8); n == 1 {
		added = 1
		if b[StartExport] == nil {
			t.Fatalf("the start function is not exported as %s", StartExport)
		}
	}
	if len(a)+added != len(b) {
		t.Fatalf("%d exported functions became %d", len(a), len(b))
	}
	for nm := range a {
		if b[nm] == nil {
			t.Fatalf("exported function %s lost", nm)
		}
	}
}

// TestMutations applies the fuzz property to every single-byte change,
// among a few telling values, of the smaller hand-built modules.
func TestMutations(t *testing.T) {
	if testing.Short() {
		t.Skip("slow; skipped with -short")
	}
	ctx, r := fuzzRuntime(t)
	for _, tc := range structuralCases() {
		if len(tc.bin) > 600 {
			continue
		}
		for i := 8; i < len(tc.bin); i++ {
			for _, v := range []byte{0x00, opLoop, opEnd, 0x40, 0x7F, 0x80, 0xFF} {
				if tc.bin[i] == v {
					continue
				}
				bin := bytes.Clone(tc.bin)
				bin[i] = v
				checkProperty(t, ctx, r, bin)
			}
		}
	}
}

func FuzzInstrument(f *testing.F) {
	for _, bin := range seeds() {
		f.Add(bin)
	}
	ctx, r := fuzzRuntime(f)
	f.Fuzz(func(t *testing.T, bin []byte) {
		checkProperty(t, ctx, r, bin)
	})
}

// ---------------------------------------------------------------------------
// Real guests.
// ---------------------------------------------------------------------------

// guestDirs returns the repository-relative directories of the Go guests
// and examples there are: those with a main.go.
func guestDirs(t testing.TB) []string {
	root := testutil.RepoRoot(t)
	var dirs []string
	for _, pattern := range []string{"runtime/testdata/guests/*", "examples/*", "examples/*/*"} {
		matches, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, m := range matches {
			if _, err := os.Stat(filepath.Join(m, "main.go")); err == nil {
				rel, _ := filepath.Rel(root, m)
				dirs = append(dirs, filepath.ToSlash(rel))
			}
		}
	}
	return dirs
}

// hostStubs provides the neuron host functions, doing nothing much.
func hostStubs(ctx context.Context, r wazero.Runtime) error {
	// copyOut is a host function that copies b as config and caller do.
	copyOut := func(b string) func(context.Context, api.Module, uint32, uint32) int32 {
		return func(ctx context.Context, m api.Module, ptr, capacity uint32) int32 {
			if int(capacity) >= len(b) && !m.Memory().WriteString(ptr, b) {
				return abi.ErrCodeBadPointer
			}
			return int32(len(b))
		}
	}
	_, err := r.NewHostModuleBuilder(abi.ImportModule).
		NewFunctionBuilder().
		WithFunc(func(ctx context.Context, m api.Module, level int32, ptr, n uint32) {}).
		Export(abi.FuncLog).
		NewFunctionBuilder().WithFunc(copyOut(`{"k":"v","n":1}`)).Export(abi.FuncConfig).
		NewFunctionBuilder().WithFunc(copyOut(`{"subject":"client-7","scopes":["read"]}`)).Export(abi.FuncCaller).
		NewFunctionBuilder().
		WithFunc(func(ctx context.Context, m api.Module, namePtr, nameLen uint32, value float64) int32 { return 0 }).
		Export(abi.FuncMetricAdd).
		NewFunctionBuilder().
		WithFunc(func(ctx context.Context, m api.Module, typePtr, typeLen, dataPtr, dataLen uint32) int32 { return 0 }).
		Export(abi.FuncEventEmit).
		Instantiate(ctx)
	return err
}

// guestRun is what a guest did in one instance.
type guestRun struct {
	InitErr   bool
	Version   []uint64
	Manifest  string
	Responses []string
}

// handleRequest sends req to the guest's handler and returns the raw
// response.
func handleRequest(ctx context.Context, mod api.Module, req *abi.Request) (string, error) {
	enc := abi.AppendRequest(nil, req)
	res, err := mod.ExportedFunction(abi.ExportAlloc).Call(ctx, uint64(len(enc)))
	if err != nil {
		return "", err
	}
	ptr := api.DecodeU32(res[0])
	if !mod.Memory().Write(ptr, enc) {
		return "", fmt.Errorf("alloc returned %d, outside memory", ptr)
	}
	if res, err = mod.ExportedFunction(abi.DefaultHandlerExport).Call(ctx, uint64(ptr), uint64(len(enc))); err != nil {
		return "", err
	}
	p, n := abi.Unpack(res[0])
	b, ok := mod.Memory().Read(p, n)
	if !ok {
		return "", fmt.Errorf("response at %d+%d outside memory", p, n)
	}
	return string(b), nil
}

var echoRequests = []*abi.Request{
	{Method: "GET", Path: "/t/echo/42", Route: "/t/echo/{id}", Vars: []abi.Pair{{Name: "id", Value: "42"}},
		RawQuery: "a=1&b=two", Header: []abi.Pair{{Name: "X-Echo", Value: "hi"}}},
	{Method: "POST", Path: "/t/echo/7", Route: "/t/echo/{id}", Vars: []abi.Pair{{Name: "id", Value: "7"}},
		Body: bytes.Repeat([]byte("body"), 1000)},
	{Method: "GET", Path: "/t/echo/size/5000", Route: "/t/echo/size/{n}", Vars: []abi.Pair{{Name: "n", Value: "5000"}}},
	{Method: "POST", Path: "/t/echo/host", Route: "/t/echo/host"},
	{Method: "POST", Path: "/t/echo/badhost", Route: "/t/echo/badhost"},
}

func TestGuests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go guests; skipped with -short")
	}
	dirs := guestDirs(t)
	if len(dirs) == 0 {
		t.Fatal("no guest sources found under runtime/testdata/guests or examples")
	}
	ctx := context.Background()
	// Compiling megabytes of Go is slow, very much so under -race; keep the
	// machine code across runs, as neuron does.
	cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(os.TempDir(), "neuron-interrupt-test-cache"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close(ctx) })
	for _, dir := range dirs {
		guest := filepath.Base(dir)
		t.Run(strings.ReplaceAll(dir, "/", "_"), func(t *testing.T) {
			t.Parallel()
			orig, err := os.ReadFile(testutil.BuildWasm(t, dir))
			if err != nil {
				t.Fatal(err)
			}
			out := mustInstrument(t, orig)
			imported, defined, _ := moduleCounts(t, orig)
			flagIndex := uint32(imported + defined)
			checkStructure(t, orig, out, flagIndex, -1)
			t.Logf("%d bytes became %d; flag is global %d", len(orig), len(out), flagIndex)

			start := func(bin []byte) (api.Module, bool) {
				t.Helper()
				r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().
					WithCloseOnContextDone(false).WithCompilationCache(cache))
				t.Cleanup(func() { r.Close(ctx) })
				wasi_snapshot_preview1.MustInstantiate(ctx, r)
				if err := hostStubs(ctx, r); err != nil {
					t.Fatal(err)
				}
				compiled, err := r.CompileModule(ctx, bin)
				if err != nil {
					t.Fatalf("compile: %v", err)
				}
				mod, err := r.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().
					WithName("").WithStartFunctions().WithStdout(io.Discard).WithStderr(io.Discard))
				if err != nil {
					t.Fatalf("instantiate: %v", err)
				}
				if init := mod.ExportedFunction(abi.ExportInitialize); init != nil {
					if _, err := init.Call(ctx); err != nil {
						t.Logf("_initialize: %v", err)
						return mod, false
					}
				}
				return mod, true
			}
			exercise := func(bin []byte) (api.Module, guestRun) {
				t.Helper()
				mod, ok := start(bin)
				run := guestRun{InitErr: !ok}
				if !ok {
					return mod, run
				}
				var err error
				if run.Version, err = mod.ExportedFunction(abi.ExportABIVersion).Call(ctx); err != nil {
					t.Fatalf("%s: %v", abi.ExportABIVersion, err)
				}
				if fn := mod.ExportedFunction(abi.ExportManifest); fn != nil {
					res, err := fn.Call(ctx)
					if err != nil {
						t.Fatalf("%s: %v", abi.ExportManifest, err)
					}
					p, n := abi.Unpack(res[0])
					b, _ := mod.Memory().Read(p, n)
					run.Manifest = string(b)
				}
				if guest == "echo" {
					for _, req := range echoRequests {
						resp, err := handleRequest(ctx, mod, req)
						if err != nil {
							t.Fatalf("%s %s: %v", req.Method, req.Path, err)
						}
						run.Responses = append(run.Responses, resp)
					}
				}
				return mod, run
			}

			_, want := exercise(orig)
			mod, got := exercise(out)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("instrumented guest behaves differently:\n got %+v\nwant %+v", got, want)
			}
			if !want.InitErr && guest != "badabi" && (len(got.Version) != 1 || got.Version[0] != abi.Version) {
				t.Errorf("%s returned %v, want %d", abi.ExportABIVersion, got.Version, abi.Version)
			}
			g := mod.ExportedGlobal(Global)
			flag, ok := g.(api.MutableGlobal)
			if !ok || g.Type() != api.ValueTypeI32 || g.Get() != 0 {
				t.Fatalf("%q is %v, want a mutable i32 that is 0", Global, g)
			}
			if guest == "loop" {
				req := &abi.Request{Method: "GET", Path: "/t/loop/spin", Route: "/t/loop/spin"}
				stopCall(t, flag, func() error { _, err := handleRequest(ctx, mod, req); return err })
			}
		})
	}
}

// BenchmarkInstrument instruments the echo guest, a Go module of a few
// megabytes.
func BenchmarkInstrument(b *testing.B) {
	bin, err := os.ReadFile(testutil.BuildWasm(b, "runtime/testdata/guests/echo"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(bin)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Instrument(bin); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoop measures what the checks cost a tight loop: the time per
// iteration of a counting loop, before and after instrumentation.
func BenchmarkLoop(b *testing.B) {
	bin := wasmModule(
		typeSec(functype([]byte{tI64}, []byte{tI64})),
		funcSec(0),
		exportSec(exp("count", kFunc, 0)),
		codeSec(body([]local{{1, tI64}},
			opLoop, btEmpty,
			lget(1), i64c(1), opI64Add, ltee(1), lget(0), opI64LtS, brIf(0),
			opEnd,
			lget(1), opEnd)),
	)
	for _, v := range []struct {
		name string
		bin  []byte
	}{{"original", bin}, {"instrumented", mustInstrument(b, bin)}} {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			r := wazero.NewRuntimeWithConfig(ctx, runtimeConfig(0))
			defer r.Close(ctx)
			mod, err := r.Instantiate(ctx, v.bin)
			if err != nil {
				b.Fatal(err)
			}
			count := mod.ExportedFunction("count")
			const n = 1 << 20
			for b.Loop() {
				if _, err := count.Call(ctx, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/iteration")
		})
	}
}
