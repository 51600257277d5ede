package sdk

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/empirefederation/neuron/sdk/abi"
)

// FuzzDecodeRequest checks that decodeRequest accepts exactly what
// abi.DecodeRequest accepts and decodes it to the same fields.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(enc(abi.Request{Method: "GET", Path: "/u/7", Route: "/u/{id}", Vars: []abi.Pair{{Name: "id", Value: "7"}},
		RawQuery: "a=1", Header: []abi.Pair{{Name: "Accept", Value: "*/*"}}, Body: []byte("hi")}))
	f.Add(enc(abi.Request{}))
	f.Add([]byte{})
	f.Add(append(enc(abi.Request{Method: "GET"}), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantErr := abi.DecodeRequest(b)
		var r Request
		ok := decodeRequest(b, &r)
		if ok != (wantErr == nil) {
			t.Fatalf("decodeRequest ok=%v, abi.DecodeRequest err=%v", ok, wantErr)
		}
		if !ok {
			return
		}
		got := abi.Request{Method: r.Method, Path: r.Path, Route: r.Route, Vars: r.Vars,
			RawQuery: r.RawQuery, Header: r.Headers, Body: r.Body}
		if !bytes.Equal(got.Body, want.Body) {
			t.Fatalf("body %q, want %q", got.Body, want.Body)
		}
		got.Body, want.Body = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	})
}

func TestDecodeRequest_Malformed(t *testing.T) {
	valid := enc(abi.Request{Method: "GET", Path: "/", Route: "/", Vars: []abi.Pair{{Name: "a", Value: "b"}}, Body: []byte("x")})
	for cut := range len(valid) {
		if decodeRequest(valid[:cut], &Request{}) {
			t.Errorf("accepted a message cut to %d of %d bytes", cut, len(valid))
		}
	}
	if decodeRequest(append(bytes.Clone(valid), 0), &Request{}) {
		t.Error("accepted trailing bytes")
	}
	tooMany := enc(abi.Request{Method: "GET", Vars: make([]abi.Pair, abi.MaxPairs+1)})
	if decodeRequest(tooMany, &Request{}) {
		t.Error("accepted more than MaxPairs variables")
	}
}
