package wasmbound

import "fmt"

// branches reads the instructions of a function body after its locals and
// returns how many of them start a block or branch (block, loop, if, else,
// br, br_if, br_table): each makes a basic block for the compiler, whose
// time grows faster than linearly with their number in one function. It
// knows the instructions wazero compiles by default (Wasm 2.0, SIMD
// included); any other makes an error, as it would make wazero refuse the
// module.
func branches(r *reader) (uint64, error) {
	var n uint64
	for !r.Done() {
		switch op := r.Byte(); {
		case op <= 0x01 || op == 0x0F || op == 0x1A || op == 0x1B || op == 0xD1 || op >= 0x45 && op <= 0xC4:
			// unreachable, nop, return, drop, select, ref.is_null, numeric
		case op == 0x0B: // end
		case op >= 0x02 && op <= 0x04: // block, loop, if
			n++
			r.LEB(5) // block type: empty, a value type or a type index

		case op == 0x05: // else
			n++
		case op == 0x0C || op == 0x0D: // br, br_if
			n++
			r.U32()
		case op == 0x0E: // br_table
			n++
			for i := r.Count(); i > 0 && r.Err == nil; i-- {
				r.U32()
			}
			r.U32()
		case op == 0x10 || op == 0xD2: // call, ref.func
			r.U32()
		case op == 0x11: // call_indirect
			r.U32()
			r.U32()
		case op == 0x1C: // select t*
			for i := r.Count(); i > 0 && r.Err == nil; i-- {
				r.ValType()
			}
		case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get, table.set
			r.U32()
		case op >= 0x28 && op <= 0x3E: // loads and stores
			memArg(r)
		case op == 0x3F || op == 0x40: // memory.size, memory.grow
			r.U32()
		case op == 0x41 || op == 0x42: // i32.const, i64.const
			r.LEB(10)
		case op == 0x43:
			r.Take(4)
		case op == 0x44:
			r.Take(8)
		case op == 0xD0: // ref.null
			r.Byte()
		case op == 0xFC:
			misc(r)
		case op == 0xFD:
			simd(r)
		default:
			r.Fail(fmt.Errorf("opcode %#x is not one the neuron compiles", op))
		}
	}
	return n, r.Err
}

func memArg(r *reader) {
	r.U32() // alignment
	r.U32() // offset
}

// misc reads the immediates of a 0xFC-prefixed instruction.
func misc(r *reader) {
	switch sub := r.U32(); {
	case sub <= 7: // saturating truncations
	case sub == 9 || sub == 13 || sub >= 15 && sub <= 17: // data.drop, elem.drop, table.grow, table.size, table.fill
		r.U32()
	case sub == 11: // memory.fill
		r.Byte()
	case sub == 8 || sub == 12 || sub == 14: // memory.init, table.init, table.copy
		r.U32()
		r.U32()
	case sub == 10: // memory.copy
		r.Byte()
		r.Byte()
	default:
		r.Fail(fmt.Errorf("opcode 0xfc %d is not one the neuron compiles", sub))
	}
}

// simd reads the immediates of a 0xFD-prefixed (SIMD) instruction.
func simd(r *reader) {
	switch sub := r.U32(); {
	case sub <= 11 || sub == 92 || sub == 93: // loads and stores
		memArg(r)
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		r.Take(16)
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane
		r.Byte()
	case sub >= 84 && sub <= 91: // load_lane, store_lane
		memArg(r)
		r.Byte()
	case sub <= 0xFF:
	default:
		r.Fail(fmt.Errorf("opcode 0xfd %d is not one the neuron compiles", sub))
	}
}
