package wasmbound

import (
	"errors"
	"fmt"
	"math"
)

// errShort is a count, size or number that runs past the bytes it is in.
var errShort = errors.New("runs past its end")

// reader reads the binary format without trusting it: every count and
// size must fit in the bytes left, since wazero sizes a slice by each before
// reading what it counts. The first irregularity is kept in err and every
// later read returns zero.
type reader struct {
	b   []byte
	err error
}

func (r *reader) done() bool { return r.err != nil || len(r.b) == 0 }

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
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// take returns the next n bytes.
func (r *reader) take(n uint32) []byte {
	if uint64(n) > uint64(len(r.b)) {
		r.fail(fmt.Errorf("%d bytes declared, %d left: %w", n, len(r.b), errShort))
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// leb reads an LEB128 number of at most maxBytes bytes, signed or not:
// only its unsigned value is kept, which is what counts and sizes are.
func (r *reader) leb(maxBytes int) uint64 {
	var v uint64
	for i := range maxBytes {
		c := r.byte()
		if i < 10 {
			v |= uint64(c&0x7F) << (7 * i)
		}
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail(errors.New("number too long"))
	return 0
}

func (r *reader) u32() uint32 {
	v := r.leb(5)
	if v > math.MaxUint32 {
		r.fail(errors.New("number too large"))
		return 0
	}
	return uint32(v)
}

// count reads the length of a vector whose elements take a byte or more.
func (r *reader) count() uint32 {
	n := r.u32()
	if uint64(n) > uint64(len(r.b)) {
		r.fail(fmt.Errorf("%d entries declared, %d bytes left: %w", n, len(r.b), errShort))
		return 0
	}
	return n
}

// name skips a length-prefixed name.
func (r *reader) name() { r.take(r.u32()) }

// valType skips a value type: one byte, or a reference type's prefix and
// its heap type.
func (r *reader) valType() {
	if t := r.byte(); t == 0x63 || t == 0x64 {
		r.leb(5)
	}
}

// limits reads the limits of a memory or table: flags, minimum and, when
// flags say so, maximum (0 when there is none).
func (r *reader) limits() (flags byte, min, max uint64) {
	flags = r.byte()
	min = r.leb(10)
	if flags&1 != 0 {
		max = r.leb(10)
	}
	return flags, min, max
}

// expr skips a constant expression, up to and including its end.
func (r *reader) expr() {
	for r.err == nil {
		switch op := r.byte(); op {
		case 0x0B: // end
			return
		case 0x41, 0x42, 0x23, 0xD2: // i32.const, i64.const, global.get, ref.func
			r.leb(10)
		case 0xD0: // ref.null: a heap type
			r.leb(5)
		case 0x43: // f32.const
			r.take(4)
		case 0x44: // f64.const
			r.take(8)
		case 0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E: // extended-const arithmetic
		case 0xFD: // v128.const
			if r.u32() != 0x0C {
				r.fail(errors.New("not a constant instruction"))
			}
			r.take(16)
		default:
			r.fail(fmt.Errorf("opcode %#x is not a constant instruction", op))
		}
	}
}
