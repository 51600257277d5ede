package interrupt

import (
	"fmt"

	"github.com/empirefederation/neuron/internal/wasmbin"
)

// skipImmediates advances r past the immediates of the instruction op.
func skipImmediates(r *reader, op byte) error {
	switch {
	case op <= 0x01 || op == 0x05 || op == 0x0B || op == 0x0F || op == 0x1A || op == 0x1B || op == 0xD1 || op == 0xD4:
		// unreachable, nop, else, end, return, drop, select, ref.is_null, ref.as_non_null
	case op >= 0x02 && op <= 0x04: // block, loop, if
		r.blockType()
	case op == 0x0C || op == 0x0D || op == 0xD5 || op == 0xD6: // br, br_if, br_on_null, br_on_non_null
		r.U32()
	case op == 0x0E: // br_table
		// Stop at the first error: a hostile count must not spin for 2^32
		// iterations over an exhausted reader.
		n := r.U32()
		for i := uint64(0); i <= uint64(n) && r.Err == nil; i++ {
			r.U32()
		}
	case op == 0x10 || op == 0x12 || op == 0x14 || op == 0x15 || op == 0xD2:
		// call, return_call, call_ref, return_call_ref, ref.func
		r.U32()
	case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
		r.U32()
		r.U32()
	case op == 0x1C: // select t*
		n := r.U32()
		for i := uint32(0); i < n && r.Err == nil; i++ {
			r.ValType()
		}
	case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get, table.set
		r.U32()
	case op >= 0x28 && op <= 0x3E: // loads and stores
		r.memArg()
	case op == 0x3F || op == 0x40: // memory.size, memory.grow
		r.U32()
	case op == 0x41: // i32.const
		r.s64()
	case op == 0x42: // i64.const
		r.s64()
	case op == 0x43:
		r.Take(4)
	case op == 0x44:
		r.Take(8)
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
	sub := r.U32()
	switch {
	case sub <= 7: // saturating truncations
	case sub == 8: // memory.init
		r.U32()
		r.U32()
	case sub == 9 || sub == 11 || sub == 13 || (sub >= 15 && sub <= 17):
		// data.drop, memory.fill, elem.drop, table.grow, table.size, table.fill
		r.U32()
	case sub == 10 || sub == 12 || sub == 14: // memory.copy, table.init, table.copy
		r.U32()
		r.U32()
	default:
		return fmt.Errorf("%w: instruction 0xfc %d", ErrUnsupported, sub)
	}
	return nil
}

// reader is wasmbin's Reader with the reads the instrumentation needs
// besides.
type reader struct{ wasmbin.Reader }

func (r *reader) s64() { r.LEB(10) }

func (r *reader) refType() { r.ValType() }

// heapType is an abstract heap type byte or a type index (s33).
func (r *reader) heapType() {
	if len(r.B) > 0 && r.B[0]&0x40 != 0 && r.B[0]&0x80 == 0 {
		r.Byte() // a one-byte negative s33: an abstract heap type
		return
	}
	r.LEB(5)
}

// blockType is empty (0x40), a value type, or a type index (s33).
func (r *reader) blockType() {
	if len(r.B) == 0 {
		r.Fail(wasmbin.ErrShort)
		return
	}
	switch c := r.B[0]; c {
	case 0x40, 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F:
		r.Byte()
	case 0x63, 0x64:
		r.ValType()
	default:
		r.LEB(5)
	}
}

func (r *reader) limits() {
	flags := r.Byte()
	r.LEB(10)
	if flags&0x01 != 0 {
		r.LEB(10)
	}
	if flags&0x08 != 0 { // custom page size
		r.U32()
	}
}

// memArg is an alignment (whose bit 6 says a memory index follows) and an
// offset.
func (r *reader) memArg() {
	align := r.U32()
	if align&0x40 != 0 {
		r.U32()
	}
	r.LEB(10)
}
