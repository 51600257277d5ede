package wasmbound

import (
	"errors"
	"fmt"

	"github.com/empirefederation/neuron/internal/wasmbin"
)

// reader is wasmbin's Reader with the reads the budget needs besides.
type reader struct{ wasmbin.Reader }

// limits reads the limits of a memory or table: flags, minimum and, when
// flags say so, maximum (0 when there is none).
func (r *reader) limits() (flags byte, min, max uint64) {
	flags = r.Byte()
	min = r.LEB(10)
	if flags&1 != 0 {
		max = r.LEB(10)
	}
	return flags, min, max
}

// expr skips a constant expression, up to and including its end.
func (r *reader) expr() {
	for r.Err == nil {
		switch op := r.Byte(); op {
		case 0x0B: // end
			return
		case 0x41, 0x42, 0x23, 0xD2: // i32.const, i64.const, global.get, ref.func
			r.LEB(10)
		case 0xD0: // ref.null: a heap type
			r.LEB(5)
		case 0x43: // f32.const
			r.Take(4)
		case 0x44: // f64.const
			r.Take(8)
		case 0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E: // extended-const arithmetic
		case 0xFD: // v128.const
			if r.U32() != 0x0C {
				r.Fail(errors.New("not a constant instruction"))
			}
			r.Take(16)
		default:
			r.Fail(fmt.Errorf("opcode %#x is not a constant instruction", op))
		}
	}
}
