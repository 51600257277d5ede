package spool

import (
	"bytes"
	"errors"
	"testing"
)

func TestDecodeRefuses(t *testing.T) {
	good := encode([]byte("hello, federation"))
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name string
		buf  []byte
	}{
		{"empty", nil},
		{"short header", good[:headerSize-1]},
		{"header only", good[:headerSize]},
		{"torn data", good[:len(good)-1]},
		{"trailing garbage", append(bytes.Clone(good), 0)},
		{"bad magic", flip(0)},
		{"bad length", flip(7)},
		{"bad checksum", flip(11)},
		{"flipped data bit", flip(headerSize + 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if data, err := decode(tt.buf); !errors.Is(err, errCorrupt) {
				t.Fatalf("decode = %q, %v; want errCorrupt", data, err)
			}
		})
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	for _, data := range [][]byte{{}, []byte("x"), bytes.Repeat([]byte{0xff}, 4096)} {
		got, err := decode(encode(data))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("decode(encode(%d bytes)) = %d bytes, %v", len(data), len(got), err)
		}
	}
}

// FuzzDecode checks that decode never panics and accepts exactly what
// encode produces.
func FuzzDecode(f *testing.F) {
	f.Add(encode(nil))
	f.Add(encode([]byte(`{"neuronId":"n1","metrics":{"totalRequests":3}}`)))
	f.Add([]byte(magic + "\x00\x00\x00\x01\x00\x00\x00\x00x"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, buf []byte) {
		data, err := decode(buf)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("decode error %v does not wrap errCorrupt", err)
			}
			return
		}
		if !bytes.Equal(encode(data), buf) {
			t.Fatalf("decode accepted %x, which encode would not produce", buf)
		}
	})
}
