package wasmbin

import (
	"errors"
	"math"
	"testing"
)

// TestU32 checks that 32-bit numbers read as wazero reads them: at most 5
// bytes, at most 32 bits, and a number cut short is an error.
func TestU32(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want uint32
		err  string
	}{
		{"one byte", []byte{0x05}, 5, ""},
		{"overlong zero", []byte{0x80, 0x80, 0x80, 0x80, 0x00}, 0, ""},
		{"largest", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x0F}, math.MaxUint32, ""},
		{"33 bits", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x1F}, 0, "number too large"},
		{"6 bytes", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 0, "number too long"},
		{"cut short", []byte{0x80, 0x80}, 0, "runs past its end"},
		{"empty", nil, 0, "runs past its end"},
	} {
		r := Reader{B: tc.in}
		got := r.U32()
		if got != tc.want || (r.Err == nil) != (tc.err == "") || r.Err != nil && r.Err.Error() != tc.err {
			t.Errorf("%s: got %d, %v; want %d, %q", tc.name, got, r.Err, tc.want, tc.err)
		}
	}
}

// TestFirstErrorKept checks that the first error stays and every later
// read returns zero, so that a caller can read on and check once.
func TestFirstErrorKept(t *testing.T) {
	r := Reader{B: []byte{0x7F, 0x01, 0x02}}
	if n := r.Count(); n != 0 || !errors.Is(r.Err, ErrShort) {
		t.Fatalf("count of 127 in 2 bytes: %d, %v", n, r.Err)
	}
	first := r.Err
	if b := r.Byte(); b != 0 || r.Take(0) != nil || r.U32() != 0 || !r.Done() || r.Err != first {
		t.Fatalf("reads after the error: byte %d, error %v", b, r.Err)
	}
}

// TestSection checks that a section is its id and its size's bytes, and
// that a size past the end is an error.
func TestSection(t *testing.T) {
	r := Reader{B: []byte{SecType, 2, 0xA, 0xB, SecCode, 3, 0xC}}
	id, body := r.Section()
	if id != SecType || string(body) != "\x0a\x0b" || r.Err != nil {
		t.Fatalf("first section: %d % x %v", id, body, r.Err)
	}
	r.Section()
	if r.Err == nil || r.Err.Error() != "3 bytes declared, 1 left: runs past its end" {
		t.Fatalf("section past the end: %v", r.Err)
	}
}

// TestOrder checks the order of known sections and that custom and
// unknown ones have none.
func TestOrder(t *testing.T) {
	last := 0
	for _, id := range []byte{SecType, SecImport, SecFunction, SecTable, SecMemory, SecTag, SecGlobal,
		SecExport, SecStart, SecElement, SecDataCount, SecCode, SecData} {
		o, ok := Order(id)
		if !ok || o <= last {
			t.Fatalf("section %d: place %d after %d", id, o, last)
		}
		last = o
	}
	for _, id := range []byte{SecCustom, 14, 255} {
		if o, ok := Order(id); ok || o != 0 {
			t.Errorf("section %d has place %d", id, o)
		}
	}
}
