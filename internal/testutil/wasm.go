package testutil

import (
	"bytes"

	"github.com/tetratelabs/wazero/api"

	"github.com/empirefederation/neuron/internal/leb128"
)

// WasmFunc is a function of a module assembled by AssembleModule: an
// export, its signature, and its instructions without locals or the final
// end. It lives here so that the tests of the runtime and of the packages
// behind it share it.
type WasmFunc struct {
	Export          string
	Params, Results []api.ValueType
	Body            []byte
}

// Instructions for WasmFunc bodies.
const (
	opEnd       = 0x0b
	opGlobalGet = 0x23
	opI32Const  = 0x41
	opI64Const  = 0x42
)

// I32Const is the instruction i32.const v.
func I32Const(v int32) []byte { return append([]byte{opI32Const}, leb128.AppendInt(nil, int64(v))...) }

// I64Const is the instruction i64.const v.
func I64Const(v int64) []byte { return append([]byte{opI64Const}, leb128.AppendInt(nil, v)...) }

// GlobalGet0 is the instruction global.get 0.
var GlobalGet0 = []byte{opGlobalGet, 0}

// GlobalGet is the instruction global.get i.
func GlobalGet(i uint32) []byte { return append([]byte{opGlobalGet}, uleb(i)...) }

// AssembleModule returns a Wasm binary defining funcs, a memory of
// memPages pages exported as "memory" (no memory when memPages is
// negative), and a mutable i64 global exported as "result", initially 0.
func AssembleModule(memPages int, funcs ...WasmFunc) []byte {
	var types, fns, exports, code [][]byte
	for i, f := range funcs {
		t := append([]byte{0x60}, vec(valueTypes(f.Params))...)
		types = append(types, append(t, vec(valueTypes(f.Results))...))
		fns = append(fns, uleb(uint32(i)))
		exports = append(exports, export(f.Export, 0x00, i))
		body := append(append([]byte{0}, f.Body...), opEnd) // no locals
		code = append(code, append(uleb(uint32(len(body))), body...))
	}
	var mem [][]byte
	if memPages >= 0 {
		mem = [][]byte{append([]byte{0x00}, uleb(uint32(memPages))...)} // min only
		exports = append(exports, export("memory", 0x02, 0))
	}
	global := [][]byte{append([]byte{0x7e, 0x01}, append(I64Const(0), opEnd)...)} // mut i64 = 0
	exports = append(exports, export("result", 0x03, 0))

	m := []byte("\x00asm\x01\x00\x00\x00")
	m = append(m, section(1, vec(types))...)
	m = append(m, section(3, vec(fns))...)
	if mem != nil {
		m = append(m, section(5, vec(mem))...)
	}
	m = append(m, section(6, vec(global))...)
	m = append(m, section(7, vec(exports))...)
	m = append(m, section(10, vec(code))...)
	return m
}

func valueTypes(ts []api.ValueType) [][]byte {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		out[i] = []byte{t}
	}
	return out
}

func export(name string, kind byte, index int) []byte {
	b := append(uleb(uint32(len(name))), name...)
	return append(append(b, kind), uleb(uint32(index))...)
}

func section(id byte, content []byte) []byte {
	return append(append([]byte{id}, uleb(uint32(len(content)))...), content...)
}

func vec(items [][]byte) []byte {
	return append(uleb(uint32(len(items))), bytes.Join(items, nil)...)
}

// uleb is v in unsigned LEB128, as Wasm encodes sizes and indexes.
func uleb(v uint32) []byte {
	var b []byte
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
