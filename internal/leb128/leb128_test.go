package leb128

import (
	"bytes"
	"math"
	"testing"
)

func TestAppendInt(t *testing.T) {
	for _, c := range []struct {
		v    int64
		want []byte
	}{
		{0, []byte{0x00}},
		{1, []byte{0x01}},
		{-1, []byte{0x7F}},
		{63, []byte{0x3F}},
		{64, []byte{0xC0, 0x00}},
		{-64, []byte{0x40}},
		{-65, []byte{0xBF, 0x7F}},
		{624485, []byte{0xE5, 0x8E, 0x26}},
		{-123456, []byte{0xC0, 0xBB, 0x78}},
		{math.MaxInt64, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00}},
		{math.MinInt64, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7F}},
	} {
		got := AppendInt(nil, c.v)
		if !bytes.Equal(got, c.want) {
			t.Errorf("AppendInt(%d) = % x, want % x", c.v, got, c.want)
		}
		if v, n := Int(append(got, 0xAA)); v != c.v || n != len(c.want) {
			t.Errorf("Int(% x) = %d, %d; want %d, %d", got, v, n, c.v, len(c.want))
		}
	}
}

func TestInt_NotANumber(t *testing.T) {
	for _, c := range []struct {
		b []byte
		n int
	}{
		{nil, 0},
		{[]byte{0x80}, 0},
		{[]byte{0x80, 0x80, 0x80}, 0},
		{bytes.Repeat([]byte{0x80}, 11), -1},
	} {
		if _, n := Int(c.b); n != c.n {
			t.Errorf("Int(% x): n = %d, want %d", c.b, n, c.n)
		}
	}
}

// FuzzRoundTrip: every int64 survives AppendInt then Int, and Int never
// reads past what it reports.
func FuzzRoundTrip(f *testing.F) {
	f.Add(int64(0), []byte{0x80})
	f.Add(int64(-65), []byte{})
	f.Fuzz(func(t *testing.T, v int64, junk []byte) {
		b := AppendInt(nil, v)
		if got, n := Int(append(b, junk...)); got != v || n != len(b) {
			t.Fatalf("Int(AppendInt(%d)) = %d, %d bytes; want %d bytes", v, got, n, len(b))
		}
		if _, n := Int(junk); n > len(junk) {
			t.Fatalf("Int read %d bytes of %d", n, len(junk))
		}
	})
}
