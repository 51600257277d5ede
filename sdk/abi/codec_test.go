package abi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// le encodes its arguments as a message: a uint32 as 4 little-endian bytes,
// a string as its length and bytes, a []byte verbatim.
func le(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch p := p.(type) {
		case int:
			b = binary.LittleEndian.AppendUint32(b, uint32(p))
		case string:
			b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
			b = append(b, p...)
		case []byte:
			b = append(b, p...)
		}
	}
	return b
}

func TestRequest_Encoding(t *testing.T) {
	r := Request{Method: "GET", Path: "/u/7", Route: "/u/{id}", Vars: []Pair{{"id", "7"}},
		RawQuery: "a=1", Header: []Pair{{"Accept", "*/*"}}, Body: []byte("hi")}
	want := le("GET", "/u/7", "/u/{id}", 1, "id", "7", "a=1", 1, "Accept", "*/*", "hi")
	got := AppendRequest([]byte("prefix"), &r)
	if !bytes.Equal(got[6:], want) || string(got[:6]) != "prefix" {
		t.Fatalf("encoding\n got %x\nwant %x", got[6:], want)
	}
	if r.HeadSize()+len(r.Body) != len(want) {
		t.Errorf("HeadSize %d + body %d != %d", r.HeadSize(), len(r.Body), len(want))
	}
	dec, err := DecodeRequest(want)
	if err != nil || !reflect.DeepEqual(dec, r) {
		t.Errorf("decoded %+v, %v", dec, err)
	}
}

func TestResponse_Encoding(t *testing.T) {
	r := Response{Status: 201, Header: []Pair{{"Content-Type", "text/plain"}}, Body: []byte("ok")}
	want := le(201, 1, "Content-Type", "text/plain", "ok")
	if got := AppendResponse(nil, &r); !bytes.Equal(got, want) {
		t.Fatalf("encoding\n got %x\nwant %x", got, want)
	}
	dec, err := DecodeResponse(want)
	if err != nil || !reflect.DeepEqual(dec, r) {
		t.Errorf("decoded %+v, %v", dec, err)
	}
}

// Each malformed message names the field, its offset and what was
// expected: three different mistakes read three different ways.
func TestDecodeRequest_Errors(t *testing.T) {
	valid := le("GET", "/", "/", 0, "", 0, "")
	tests := []struct {
		name string
		msg  []byte
		want string
	}{
		{"empty", nil, "abi: malformed request: field method at offset 0: needs 4 bytes (a u32), 0 left: the message is cut short"},
		{"short length", []byte{3, 0}, "field method at offset 0: needs 4 bytes (a u32), 2 left"},
		{"string past end", le(10, []byte("GET")), "field method at offset 0: length 10 runs past the end of the message (3 bytes left)"},
		{"missing fields", le("GET", "/"), "field route at offset 12: needs 4 bytes (a u32), 0 left"},
		{"too many pairs", le("GET", "/", "/", MaxPairs+1), "field vars at offset 17: count 1025 is above the most a message may hold, 1024"},
		{"pair count past end", le("GET", "/", "/", 2, "a", "b"), "field vars at offset 17: count 2 needs at least 16 more bytes (two lengths a pair), 10 left"},
		{"pair value missing", le("GET", "/", "/", 1, "a", []byte{0, 0, 0, 0}), "field rawQuery at offset 30: needs 4 bytes (a u32), 0 left"},
		{"pair value past end", le("GET", "/", "/", 1, "a", 9, []byte("bc")), "field vars[0].value at offset 26: length 9 runs past the end of the message (2 bytes left)"},
		{"body past end", le("GET", "/", "/", 0, "", 0, 5, []byte("abc")), "field body at offset 29: length 5 runs past the end of the message (3 bytes left)"},
		{"trailing bytes", append(bytes.Clone(valid), 0), "field end at offset 33: 1 byte after the body: the body's length must cover every byte to the end of the message"},
		{"huge length", le("GET", "/", "/", 0, "", 0, 0xFFFFFFFF), "field body at offset 29: length 4294967295 runs past the end of the message (0 bytes left)"},
	}
	if _, err := DecodeRequest(valid); err != nil {
		t.Fatalf("the valid base message fails: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := DecodeRequest(tc.msg)
			if !errors.Is(err, ErrMalformed) || !reflect.DeepEqual(r, Request{}) {
				t.Fatalf("got %+v, %v; want zero Request and ErrMalformed", r, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nlacks %q", err, tc.want)
			}
		})
	}
}

func TestDecodeResponse_Errors(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		want string
	}{
		{"empty", nil, "abi: malformed response: field status at offset 0: needs 4 bytes (a u32), 0 left"},
		{"status only", le(200), "field headers at offset 4: needs 4 bytes (a u32), 0 left"},
		{"no body length", le(200, 0), "field body at offset 8: needs 4 bytes (a u32), 0 left"},
		{"too many pairs", le(200, MaxPairs+1), "field headers at offset 4: count 1025 is above the most a message may hold"},
		{"header cut", le(200, 1, "Content-Type"), "field headers[0].value at offset 24: needs 4 bytes (a u32), 0 left"},
		{"body past end", le(200, 0, 3, []byte("ab")), "field body at offset 8: length 3 runs past the end of the message (2 bytes left)"},
		{"trailing bytes", le(200, 0, "ab", []byte("c")), "field end at offset 14: 1 byte after the body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := DecodeResponse(tc.msg)
			if !errors.Is(err, ErrMalformed) || !reflect.DeepEqual(r, Response{}) {
				t.Fatalf("got %+v, %v; want zero Response and ErrMalformed", r, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nlacks %q", err, tc.want)
			}
		})
	}
}

func TestPack(t *testing.T) {
	for _, c := range [][2]uint32{{0, 0}, {1, 2}, {0xFFFFFFFF, 0xFFFFFFFF}, {0x10000, 0}} {
		if p, l := Unpack(Pack(c[0], c[1])); p != c[0] || l != c[1] {
			t.Errorf("Pack/Unpack(%x, %x) = %x, %x", c[0], c[1], p, l)
		}
	}
	if Pack(1, 2) != 1<<32|2 {
		t.Error("pointer is not in the high bits")
	}
}

// FuzzDecodeRequest checks that any input decodes without panicking and that
// whatever decodes re-encodes to the same bytes.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(le("GET", "/u/7", "/u/{id}", 1, "id", "7", "a=1", 1, "Accept", "*/*", "hi"))
	f.Add(le("GET", "/", "/", 0, "", 0, ""))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			return
		}
		if got := AppendRequest(nil, &r); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

// FuzzDecodeResponse is FuzzDecodeRequest for responses.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(le(201, 1, "Content-Type", "text/plain", "ok"))
	f.Add(le(200, 0, ""))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResponse(b)
		if err != nil {
			return
		}
		if got := AppendResponse(nil, &r); !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, b)
		}
	})
}

// FuzzRequestRoundTrip checks that AppendRequest then DecodeRequest preserves
// every field.
func FuzzRequestRoundTrip(f *testing.F) {
	f.Add("GET", "/u/7", "/u/{id}", "id", "7", "a=1", "Accept", "*/*", []byte("hi"), uint8(1))
	f.Fuzz(func(t *testing.T, method, path, route, vn, vv, query, hn, hv string, body []byte, n uint8) {
		r := Request{Method: method, Path: path, Route: route, RawQuery: query, Body: body}
		for i := range int(n % 4) {
			r.Vars = append(r.Vars, Pair{vn, vv + string(rune('a'+i))})
			r.Header = append(r.Header, Pair{hn, hv})
		}
		got, err := DecodeRequest(AppendRequest(nil, &r))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Body) == 0 {
			r.Body = got.Body // nil and empty are the same on the wire
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip\n got %+v\nwant %+v", got, r)
		}
	})
}

// FuzzResponseRoundTrip checks that AppendResponse then DecodeResponse
// preserves every field.
func FuzzResponseRoundTrip(f *testing.F) {
	f.Add(uint32(200), "Content-Type", "application/json", []byte(`{}`), uint8(1))
	f.Fuzz(func(t *testing.T, status uint32, hn, hv string, body []byte, n uint8) {
		r := Response{Status: int(status), Body: body}
		for range int(n % 4) {
			r.Header = append(r.Header, Pair{hn, hv})
		}
		got, err := DecodeResponse(AppendResponse(nil, &r))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Body) == 0 {
			r.Body = got.Body
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip\n got %+v\nwant %+v", got, r)
		}
	})
}
