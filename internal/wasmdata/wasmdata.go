// Package wasmdata rewrites the data section of a Wasm module so that it
// instantiates faster, without changing what the module does.
//
// Go's linker splits a module's initial memory into a data segment per run
// of non-zero bytes: the 3.7 MB data processor has about 41,000 segments
// for 1 MB of data. wazero evaluates each segment's offset expression and
// copies it on every instantiation, which cost about 1.5 ms of the 2.2 ms a
// Go processor took to instantiate, on every new instance. Coalesce merges
// segments that lie close together into one, filling the gaps with the
// zeros that were there anyway, so that instantiating copies a few large
// blocks instead. See docs/design.md, "Why coalesce data segments?".
//
// It changes the data section only and leaves alone every layout it
// cannot merge safely; it neither compiles nor validates (internal/codecache
// calls Coalesce before the runtime compiles, and wazero judges the
// result), and it imports only leb128 and the standard library.
package wasmdata

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/empirefederation/neuron/internal/leb128"
)

// MaxGap is the widest run of zeros between two segments that Coalesce
// fills to merge them. wazero spends about as long on a segment as on
// copying a few hundred bytes, so merging across a wider gap would copy
// more than it saves.
const MaxGap = 256

const (
	secMemory    = 5
	secData      = 11
	secDataCount = 12
	pageSize     = 64 << 10
)

// segment is an active data segment of memory 0 at a constant offset.
type segment struct {
	offset uint32
	init   []byte
}

// Coalesce returns bin with its data segments merged where at most MaxGap
// zero bytes separate them, or bin itself when there is nothing to merge or
// the module has a data layout Coalesce leaves alone: passive segments or a
// data count section (instructions may refer to segments by index),
// offsets that are not constants, segments that overlap (their order
// matters) or fall outside the initial memory (instantiation must fail as
// it would have), and memories that are imported or 64-bit. An error means
// bin is not a well-formed module; the caller may compile bin and let the
// runtime report it.
func Coalesce(bin []byte) ([]byte, error) {
	if len(bin) < 8 || !bytes.Equal(bin[:4], []byte("\x00asm")) {
		return nil, errors.New("wasmdata: not a Wasm module")
	}
	var dataAt, dataEnd int
	var memBytes uint64
	for at := 8; at < len(bin); {
		id := bin[at]
		size, n := binary.Uvarint(bin[at+1:])
		body := at + 1 + n
		if n <= 0 || size > uint64(len(bin)-body) {
			return nil, fmt.Errorf("wasmdata: section %d at byte %d: bad size", id, at)
		}
		end := body + int(size)
		switch id {
		case secDataCount:
			return bin, nil
		case secMemory:
			var ok bool
			if memBytes, ok = initialMemory(bin[body:end]); !ok {
				return bin, nil
			}
		case secData:
			dataAt, dataEnd = at, end
		}
		at = end
	}
	if dataAt == 0 {
		return bin, nil
	}
	_, n := binary.Uvarint(bin[dataAt+1:])
	segs, ok := parseSegments(bin[dataAt+1+n : dataEnd])
	if !ok || len(segs) < 2 {
		return bin, nil
	}
	merged, ok := merge(segs, memBytes)
	if !ok || len(merged) == len(segs) {
		return bin, nil
	}
	body := encodeSegments(merged)
	out := make([]byte, 0, len(bin)-(dataEnd-dataAt)+len(body)+6)
	out = append(out, bin[:dataAt]...)
	out = append(out, secData)
	out = binary.AppendUvarint(out, uint64(len(body)))
	out = append(out, body...)
	return append(out, bin[dataEnd:]...), nil
}

// initialMemory returns the initial size in bytes of the one 32-bit memory
// a memory section defines.
func initialMemory(b []byte) (uint64, bool) {
	count, n := binary.Uvarint(b)
	if n <= 0 || count != 1 || len(b) <= n {
		return 0, false
	}
	flags := b[n]
	if flags&^0x01 != 0 { // shared, 64-bit or custom page sizes
		return 0, false
	}
	pages, m := binary.Uvarint(b[n+1:])
	if m <= 0 {
		return 0, false
	}
	return pages * pageSize, true
}

// parseSegments reads a data section whose segments are all active, in
// memory 0, at an i32.const offset.
func parseSegments(b []byte) ([]segment, bool) {
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return nil, false
	}
	b = b[n:]
	segs := make([]segment, 0, count)
	for range count {
		// flags 0, i32.const, a signed LEB128 offset, end
		if len(b) < 2 || b[0] != 0x00 || b[1] != 0x41 {
			return nil, false
		}
		offset, n := leb128.Int(b[2:])
		if n <= 0 || offset < 0 || offset > 1<<32-1 {
			return nil, false
		}
		b = b[2+n:]
		if len(b) == 0 || b[0] != 0x0B {
			return nil, false
		}
		size, m := binary.Uvarint(b[1:])
		if m <= 0 || size > uint64(len(b)-1-m) {
			return nil, false
		}
		start := 1 + m
		segs = append(segs, segment{uint32(offset), b[start : start+int(size)]})
		b = b[start+int(size):]
	}
	return segs, len(b) == 0
}

// merge sorts segs by offset and joins those at most MaxGap apart. It
// refuses overlapping segments and any past the initial memory of memBytes.
func merge(segs []segment, memBytes uint64) ([]segment, bool) {
	slices.SortStableFunc(segs, func(a, b segment) int { return int(int64(a.offset) - int64(b.offset)) })
	var out []segment
	var end uint64 // of the last segment in out
	for _, s := range segs {
		start := uint64(s.offset)
		if len(out) > 0 && start < end || start+uint64(len(s.init)) > memBytes {
			return nil, false
		}
		if len(out) > 0 && start-end <= MaxGap {
			last := &out[len(out)-1]
			last.init = append(last.init, make([]byte, start-end)...)
			last.init = append(last.init, s.init...)
		} else {
			out = append(out, segment{s.offset, slices.Clip(s.init)})
		}
		end = start + uint64(len(s.init))
	}
	return out, true
}

// encodeSegments writes a data section body of active segments of memory 0.
func encodeSegments(segs []segment) []byte {
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(segs)))
	for _, s := range segs {
		b = append(b, 0x00, 0x41)
		b = leb128.AppendInt(b, int64(s.offset))
		b = append(b, 0x0B)
		b = binary.AppendUvarint(b, uint64(len(s.init)))
		b = append(b, s.init...)
	}
	return b
}
