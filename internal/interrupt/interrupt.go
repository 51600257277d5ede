package interrupt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/empirefederation/neuron/internal/wasmbin"
)

// Global is the export name of the interrupt flag.
const Global = "neuron.interrupt"

// StartExport is the export name of the module's start function, which
// Instrument takes out of the start section: the host calls it after
// instantiating, under a deadline.
const StartExport = "neuron.start"

// ErrUnsupported is returned for modules that use instructions Instrument
// does not know how to walk, or that it cannot instrument (no memory).
var ErrUnsupported = errors.New("interrupt: unsupported")

// ErrInvalid is returned for a module that is invalid on its own in a way
// the rewrite would hide: it names a global it does not have, or its start
// function does not exist or takes or returns values. Instrumented, such a
// module could validate and reach the host's flag. It is returned too for
// sections repeated or out of order, which leave the counts ambiguous.
var ErrInvalid = errors.New("invalid module")

type section struct {
	id   byte
	body []byte
}

// Instrument returns a copy of the module bin with the interrupt flag and
// its checks, and its start function moved to the export StartExport. It
// refuses a module that the rewrite would make valid (ErrInvalid) and one
// it does not understand (ErrUnsupported); the result is checked again by
// the runtime that compiles it.
func Instrument(bin []byte) ([]byte, error) {
	if len(bin) < 8 || !bytes.Equal(bin[:4], []byte("\x00asm")) {
		return nil, errors.New("interrupt: not a Wasm module")
	}
	secs, err := splitSections(bin[8:])
	if err != nil {
		return nil, err
	}
	m, err := scan(secs)
	if err != nil {
		return nil, err
	}
	if err := m.check(secs); err != nil {
		return nil, err
	}
	flag := m.globals
	tick := flag + 1
	global := []byte{0x7F, 0x01, 0x41, 0x00, 0x0B} // mut i32 = i32.const 0
	export := append(appendName(nil, Global), 0x03)
	export = binary.AppendUvarint(export, uint64(flag))
	// tick++
	// if tick&1023 == 0 | flag {
	//	if flag { unreachable }
	//	drop(memory.grow(0))
	// }
	check := binary.AppendUvarint([]byte{0x23}, uint64(tick))
	check = append(check, 0x41, 0x01, 0x6A)
	check = binary.AppendUvarint(append(check, 0x24), uint64(tick))
	check = binary.AppendUvarint(append(check, 0x23), uint64(tick))
	check = append(check, 0x41, 0xFF, 0x07, 0x71, 0x45)
	check = binary.AppendUvarint(append(check, 0x23), uint64(flag))
	check = append(check, 0x72, 0x04, 0x40)
	check = binary.AppendUvarint(append(check, 0x23), uint64(flag))
	check = append(check, 0x04, 0x40, 0x00, 0x0B)
	check = append(check, 0x41, 0x00, 0x40, 0x00, 0x1A, 0x0B)

	for i := range secs {
		if secs[i].id == wasmbin.SecCode {
			if secs[i].body, err = instrumentCode(secs[i].body, check, m.globals); err != nil {
				return nil, err
			}
		}
	}
	// The flag, then the tick.
	for range 2 {
		if secs, err = appendToVec(secs, wasmbin.SecGlobal, global); err != nil {
			return nil, err
		}
	}
	if secs, err = appendToVec(secs, wasmbin.SecExport, export); err != nil {
		return nil, err
	}
	if m.start != nil {
		export := binary.AppendUvarint(append(appendName(nil, StartExport), 0x00), uint64(*m.start))
		if secs, err = appendToVec(secs, wasmbin.SecExport, export); err != nil {
			return nil, err
		}
		secs = slices.DeleteFunc(secs, func(s section) bool { return s.id == wasmbin.SecStart })
	}
	out := append([]byte(nil), bin[:8]...)
	for _, s := range secs {
		out = append(out, s.id)
		out = binary.AppendUvarint(out, uint64(len(s.body)))
		out = append(out, s.body...)
	}
	return out, nil
}

func splitSections(b []byte) ([]section, error) {
	var secs []section
	r := reader{wasmbin.Reader{B: b}}
	for !r.Done() {
		id, body := r.Section()
		if r.Err != nil {
			return nil, fmt.Errorf("interrupt: section %d: %w", id, r.Err)
		}
		secs = append(secs, section{id, body})
	}
	return secs, nil
}

// appendToVec appends item to the vector that is the body of section id,
// creating the section in its place if the module has none.
func appendToVec(secs []section, id byte, item []byte) ([]section, error) {
	for i, s := range secs {
		if s.id != id {
			continue
		}
		r := reader{wasmbin.Reader{B: s.body}}
		n := r.U32()
		if r.Err != nil {
			return nil, r.Err
		}
		body := binary.AppendUvarint(nil, uint64(n)+1)
		body = append(body, r.B...)
		secs[i].body = append(body, item...)
		return secs, nil
	}
	at := len(secs)
	place, _ := wasmbin.Order(id)
	for i, s := range secs {
		if o, _ := wasmbin.Order(s.id); o > place {
			at = i
			break
		}
	}
	sec := section{id, append([]byte{1}, item...)}
	return append(secs[:at], append([]section{sec}, secs[at:]...)...), nil
}

// instrumentCode inserts check before every branch back to a loop in every
// function body of a code section, refusing a body that names a global at
// or past globals, the module's own count.
func instrumentCode(b []byte, check []byte, globals uint32) ([]byte, error) {
	r := reader{wasmbin.Reader{B: b}}
	n := r.U32()
	if r.Err != nil {
		return nil, fmt.Errorf("interrupt: code section: %w", r.Err)
	}
	out := binary.AppendUvarint(make([]byte, 0, len(b)+len(b)/8), uint64(n))
	var body []byte
	for i := range n {
		size := r.U32()
		fn := r.Take(size)
		if r.Err != nil {
			return nil, fmt.Errorf("interrupt: function %d: %w", i, r.Err)
		}
		var err error
		if body, err = instrumentBody(body[:0], fn, check, globals); err != nil {
			if errors.Is(err, ErrInvalid) {
				return nil, fmt.Errorf("%w (function %d)", err, i)
			}
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	if !r.Done() {
		return nil, errors.New("interrupt: code section: bytes after the last function")
	}
	return out, nil
}

func instrumentBody(out, fn, check []byte, globals uint32) ([]byte, error) {
	r := reader{wasmbin.Reader{B: fn}}
	groups := r.U32()
	for i := uint32(0); i < groups && r.Err == nil; i++ {
		r.U32()
		r.ValType()
	}
	if r.Err != nil {
		return nil, fmt.Errorf("interrupt: locals: %w", r.Err)
	}
	start := len(fn) - len(r.B)
	out = append(out, fn[:start]...)
	loops := []bool{false} // the enclosing blocks, innermost last: is it a loop?
	for !r.Done() {
		at := len(fn) - len(r.B)
		op := r.Byte()
		back, err := branchesToLoop(r, op, loops)
		if err != nil {
			return nil, fmt.Errorf("%w at byte %d", err, at)
		}
		if op == 0x23 || op == 0x24 { // global.get, global.set
			c := r // a copy: skipImmediates reads the index again
			if err := checkGlobal(&c, globals); err != nil {
				return nil, fmt.Errorf("%w: code at byte %d: %v", ErrInvalid, at, err)
			}
		}
		if err := skipImmediates(&r, op); err != nil {
			return nil, fmt.Errorf("%w at byte %d", err, at)
		}
		if r.Err != nil {
			return nil, fmt.Errorf("interrupt: opcode %#x at byte %d: %w", op, at, r.Err)
		}
		switch op {
		case 0x02, 0x03, 0x04: // block, loop, if
			loops = append(loops, op == 0x03)
		case 0x0B: // end
			if len(loops) > 0 {
				loops = loops[:len(loops)-1]
			}
		}
		if back {
			out = append(out, check...)
		}
		out = append(out, fn[at:len(fn)-len(r.B)]...)
	}
	return out, nil
}

// branchesToLoop reports whether the branch instruction op, whose
// immediates r (a copy) is at, may jump back to the head of an enclosing
// loop, or is a tail call. Checks go before such back-edges rather than at loop heads: every Go
// function begins with a loop that is entered on each call but rarely
// iterated, and a loop that never branches back cannot run forever.
func branchesToLoop(r reader, op byte, loops []bool) (bool, error) {
	n := uint64(1)
	switch op {
	case 0x0C, 0x0D, 0xD5, 0xD6: // br, br_if, br_on_null, br_on_non_null: one label
	case 0x0E: // br_table: a count of labels, then the default
		n = uint64(r.U32()) + 1
	case 0x12, 0x13, 0x15: // return_call, return_call_indirect, return_call_ref
		return true, nil // a tail call can recur forever without a loop or a growing stack
	default:
		return false, nil
	}
	back := false
	for i := uint64(0); i < n && r.Err == nil; i++ {
		l := r.U32()
		if uint64(l) >= uint64(len(loops)) {
			return false, fmt.Errorf("interrupt: branch to label %d with %d enclosing blocks", l, len(loops))
		}
		back = back || loops[len(loops)-1-int(l)]
	}
	return back, r.Err
}

// appendName appends a length-prefixed name.
func appendName(b []byte, name string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(name))), name...)
}
