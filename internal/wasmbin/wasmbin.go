// Package wasmbin reads the Wasm binary format without trusting it: a
// cursor that remembers its first error, so that a reader of a module can
// read on and check once, and the sections of a module. Both the module
// budget (wasmbound) and the interrupt instrumentation (interrupt) read
// modules a processor supplies with it. It only reads: rewriting a module
// is its callers' job and validating one is wazero's, and it must stay a
// leaf of the standard library, so that what looks at an untrusted module
// before wazero does needs nothing else.
package wasmbin

import (
	"errors"
	"fmt"
	"math"
)

// Section ids of the binary format.
const (
	SecCustom    = 0
	SecType      = 1
	SecImport    = 2
	SecFunction  = 3
	SecTable     = 4
	SecMemory    = 5
	SecGlobal    = 6
	SecExport    = 7
	SecStart     = 8
	SecElement   = 9
	SecCode      = 10
	SecData      = 11
	SecDataCount = 12
	SecTag       = 13
)

// ErrShort is a count, size or number that runs past the bytes it is in.
var ErrShort = errors.New("runs past its end")

// Reader reads the binary format from B. Every count and size must fit in
// the bytes left, since wazero sizes a slice by each before reading what it
// counts. The first irregularity is kept in Err, B is emptied, and every
// later read returns zero. Numbers read exactly as wazero reads them: an
// LEB128 number longer than its type allows, or a 32-bit one overflowing 32
// bits, is an error, so that an index reads the same to both.
type Reader struct {
	// B is what is left to read.
	B []byte
	// Err is the first irregularity, or nil.
	Err error
}

// Done reports whether the reader is at its end or failed.
func (r *Reader) Done() bool { return r.Err != nil || len(r.B) == 0 }

// Fail records err unless an error came first, and stops the reader.
func (r *Reader) Fail(err error) {
	if r.Err == nil {
		r.Err = err
	}
	r.B = nil
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if len(r.B) == 0 {
		r.Fail(ErrShort)
		return 0
	}
	v := r.B[0]
	r.B = r.B[1:]
	return v
}

// Take returns the next n bytes.
func (r *Reader) Take(n uint32) []byte {
	if uint64(n) > uint64(len(r.B)) {
		r.Fail(fmt.Errorf("%d bytes declared, %d left: %w", n, len(r.B), ErrShort))
		return nil
	}
	v := r.B[:n]
	r.B = r.B[n:]
	return v
}

// LEB reads an LEB128 number of at most maxBytes (at most 10) bytes,
// signed or not, and returns its raw bits: counts, sizes and indexes are
// unsigned, and callers of signed ones only skip them.
func (r *Reader) LEB(maxBytes int) uint64 {
	var v uint64
	for i := range maxBytes {
		if len(r.B) == 0 {
			r.Fail(ErrShort)
			return 0
		}
		c := r.B[0]
		r.B = r.B[1:]
		v |= uint64(c&0x7F) << (7 * i)
		if c&0x80 == 0 {
			return v
		}
	}
	r.Fail(errors.New("number too long"))
	return 0
}

// U32 reads an unsigned LEB128 number of 32 bits, refusing one with more
// as wazero does.
func (r *Reader) U32() uint32 {
	v := r.LEB(5)
	if v > math.MaxUint32 {
		r.Fail(errors.New("number too large"))
		return 0
	}
	return uint32(v)
}

// Count reads the length of a vector whose elements take a byte or more,
// refusing one longer than the bytes left.
func (r *Reader) Count() uint32 {
	n := r.U32()
	if uint64(n) > uint64(len(r.B)) {
		r.Fail(fmt.Errorf("%d entries declared, %d bytes left: %w", n, len(r.B), ErrShort))
		return 0
	}
	return n
}

// Name reads a length-prefixed name.
func (r *Reader) Name() []byte { return r.Take(r.U32()) }

// ValType skips a value type: one byte, or a reference type's prefix and
// its heap type (an abstract one in a byte or a type index, an s33).
func (r *Reader) ValType() {
	if t := r.Byte(); t == 0x63 || t == 0x64 {
		r.LEB(5)
	}
}

// Section reads the header of the next section of a module, after its
// 8-byte preamble, and returns its id and body.
func (r *Reader) Section() (id byte, body []byte) {
	id = r.Byte()
	return id, r.Take(r.U32())
}

// order is each known section's place in a module.
var order = [...]int{SecType: 1, SecImport: 2, SecFunction: 3, SecTable: 4, SecMemory: 5, SecTag: 6,
	SecGlobal: 7, SecExport: 8, SecStart: 9, SecElement: 10, SecDataCount: 11, SecCode: 12, SecData: 13}

// Order returns the place of the section id in a module: each known
// section other than custom appears at most once, in increasing place. It
// returns 0 and false for a custom section, which may appear anywhere, and
// for an unknown id.
func Order(id byte) (place int, ok bool) {
	if int(id) >= len(order) || order[id] == 0 {
		return 0, false
	}
	return order[id], true
}
