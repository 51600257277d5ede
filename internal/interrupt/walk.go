package interrupt

import (
	"errors"
	"fmt"
	"math"
)

// skipImmediates advances r past the immediates of the instruction op.
func skipImmediates(r *reader, op byte) error {
	switch {
	case op <= 0x01 || op == 0x05 || op == 0x0B || op == 0x0F || op == 0x1A || op == 0x1B || op == 0xD1 || op == 0xD4:
		// unreachable, nop, else, end, return, drop, select, ref.is_null, ref.as_non_null
	case op >= 0x02 && op <= 0x04: // block, loop, if
		r.blockType()
	case op == 0x0C || op == 0x0D || op == 0xD5 || op == 0xD6: // br, br_if, br_on_null, br_on_non_null
		r.u32()
	case op == 0x0E: // br_table
		// Stop at the first error: a hostile count must not spin for 2^32
		// iterations over an exhausted reader.
		n := r.u32()
		for i := uint64(0); i <= uint64(n) && r.err == nil; i++ {
			r.u32()
		}
	case op == 0x10 || op == 0x12 || op == 0x14 || op == 0x15 || op == 0xD2:
		// call, return_call, call_ref, return_call_ref, ref.func
		r.u32()
	case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
		r.u32()
		r.u32()
	case op == 0x1C: // select t*
		n := r.u32()
		for i := uint32(0); i < n && r.err == nil; i++ {
			r.valType()
		}
	case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get, table.set
		r.u32()
	case op >= 0x28 && op <= 0x3E: // loads and stores
		r.memArg()
	case op == 0x3F || op == 0x40: // memory.size, memory.grow
		r.u32()
	case op == 0x41: // i32.const
		r.s64()
	case op == 0x42: // i64.const
		r.s64()
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op >= 0x45 && op <= 0xC4: // numeric, sign extension
	case op == 0xD0: // ref.null
		r.heapType()
	case op == 0xFC:
		return skipMisc(r)
	default:
		return fmt.Errorf("%w: instruction %#x", ErrUnsupported, op)
	}
	return nil
}

// skipMisc advances past a 0xFC-prefixed instruction.
func skipMisc(r *reader) error {
	sub := r.u32()
	switch {
	case sub <= 7: // saturating truncations
	case sub == 8: // memory.init
		r.u32()
		r.u32()
	case sub == 9 || sub == 11 || sub == 13 || (sub >= 15 && sub <= 17):
		// data.drop, memory.fill, elem.drop, table.grow, table.size, table.fill
		r.u32()
	case sub == 10 || sub == 12 || sub == 14: // memory.copy, table.init, table.copy
		r.u32()
		r.u32()
	default:
		return fmt.Errorf("%w: instruction 0xfc %d", ErrUnsupported, sub)
	}
	return nil
}

var errShort = errors.New("unexpected end")

// reader reads the binary format, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) done() bool { return len(r.b) == 0 || r.err != nil }

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail(errShort)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.fail(errShort)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// leb reads an LEB128 number of at most maxBytes bytes and returns its raw
// bits; callers that need the signed value do not: they only skip it.
func (r *reader) leb(maxBytes int) uint64 {
	var v uint64
	for i := 0; i < maxBytes; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7F) << (7 * i)
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail(errors.New("LEB128 number too long"))
	return 0
}

// u32 reads an unsigned LEB128 number of 32 bits, refusing one with more
// as the runtime does: an index must read the same to both.
func (r *reader) u32() uint32 {
	v := r.leb(5)
	if v > math.MaxUint32 {
		r.fail(errors.New("LEB128 number overflows 32 bits"))
		return 0
	}
	return uint32(v)
}
func (r *reader) s64() { r.leb(10) }

func (r *reader) name() {
	n := r.u32()
	r.bytes(int(n))
}

// valType reads a value type: a number, vector or reference type.
func (r *reader) valType() {
	switch c := r.byte(); c {
	case 0x63, 0x64: // (ref null? ht)
		r.heapType()
	}
}

func (r *reader) refType() { r.valType() }

// heapType is an abstract heap type byte or a type index (s33).
func (r *reader) heapType() {
	if len(r.b) > 0 && r.b[0]&0x40 != 0 && r.b[0]&0x80 == 0 {
		r.byte() // a one-byte negative s33: an abstract heap type
		return
	}
	r.leb(5)
}

// blockType is empty (0x40), a value type, or a type index (s33).
func (r *reader) blockType() {
	if len(r.b) == 0 {
		r.fail(errShort)
		return
	}
	switch c := r.b[0]; c {
	case 0x40, 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F:
		r.byte()
	case 0x63, 0x64:
		r.valType()
	default:
		r.leb(5)
	}
}

func (r *reader) limits() {
	flags := r.byte()
	r.leb(10)
	if flags&0x01 != 0 {
		r.leb(10)
	}
	if flags&0x08 != 0 { // custom page size
		r.u32()
	}
}

// memArg is an alignment (whose bit 6 says a memory index follows) and an
// offset.
func (r *reader) memArg() {
	align := r.u32()
	if align&0x40 != 0 {
		r.u32()
	}
	r.leb(10)
}
