package sdk

import (
	"encoding/binary"

	"github.com/empirefederation/neuron/sdk/abi"
)

// Reused by decodeRequest; a Request is valid only until its handler returns.
var varsBuf, headersBuf []abi.Pair

// decodeRequest decodes b, an encoded request (see package abi), into r and
// reports whether b is well formed, accepting exactly what abi.DecodeRequest
// accepts. It allocates once: every string of r is a substring of a single
// copy of the message head, so strings stay valid after the handler returns.
// r.Vars and r.Headers reuse package-level slices and r.Body aliases b.
func decodeRequest(b []byte, r *Request) bool {
	n := headLen(b)
	if n < 0 {
		return false
	}
	d := strDecoder{s: string(b[:n])}
	r.Method = d.str()
	r.Path = d.str()
	r.Route = d.str()
	varsBuf = d.pairs(varsBuf[:0])
	r.RawQuery = d.str()
	headersBuf = d.pairs(headersBuf[:0])
	r.Vars, r.Headers, r.Body = nilIfEmpty(varsBuf), nilIfEmpty(headersBuf), b[n:]
	return true
}

func nilIfEmpty(ps []abi.Pair) []abi.Pair {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// headLen validates b and returns the length of its head, everything before
// the body bytes, or -1 when b is malformed.
func headLen(b []byte) int {
	off := 0
	// next reads a u32 at off; ok is false past the end.
	next := func() (uint32, bool) {
		if len(b)-off < 4 {
			return 0, false
		}
		v := binary.LittleEndian.Uint32(b[off:])
		off += 4
		return v, true
	}
	skip := func() bool { // a length-prefixed field
		n, ok := next()
		if !ok || uint64(n) > uint64(len(b)-off) {
			return false
		}
		off += int(n)
		return true
	}
	pairs := func() bool {
		n, ok := next()
		if !ok || n > abi.MaxPairs || uint64(n)*8 > uint64(len(b)-off) {
			return false
		}
		for range 2 * n { // name and value
			if !skip() {
				return false
			}
		}
		return true
	}
	// method, path, route, vars, raw query, headers
	for _, field := range []func() bool{skip, skip, skip, pairs, skip, pairs} {
		if !field() {
			return -1
		}
	}
	body, ok := next()
	if !ok || uint64(body) != uint64(len(b)-off) {
		return -1
	}
	return off
}

// strDecoder reads fields from a head that headLen has validated.
type strDecoder struct{ s string }

func (d *strDecoder) u32() uint32 {
	v := uint32(d.s[0]) | uint32(d.s[1])<<8 | uint32(d.s[2])<<16 | uint32(d.s[3])<<24
	d.s = d.s[4:]
	return v
}

func (d *strDecoder) str() string {
	n := d.u32()
	v := d.s[:n]
	d.s = d.s[n:]
	return v
}

func (d *strDecoder) pairs(dst []abi.Pair) []abi.Pair {
	for n := d.u32(); n > 0; n-- {
		dst = append(dst, abi.Pair{Name: d.str(), Value: d.str()})
	}
	return dst
}
