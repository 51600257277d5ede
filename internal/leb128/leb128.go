// Package leb128 reads and writes the signed LEB128 numbers of the Wasm
// binary format (the constants of i32.const and i64.const, for one).
// Unsigned ones are encoding/binary's Uvarint, so this package must not
// grow a second copy of them. It imports nothing at all, so that the data
// rewriting (wasmdata) and the tests' module builder (testutil) share it.
package leb128

// AppendInt appends v in signed LEB128, in the fewest bytes.
func AppendInt(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// Int reads a signed LEB128 number of at most 10 bytes from the start of
// b and returns it with the number of bytes read, or n <= 0 when b does
// not start with one: 0 when b ends first, -1 when it runs too long.
func Int(b []byte) (v int64, n int) {
	var shift uint
	for i, c := range b {
		if i == 10 {
			return 0, -1
		}
		v |= int64(c&0x7F) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, i + 1
		}
	}
	return 0, 0
}
