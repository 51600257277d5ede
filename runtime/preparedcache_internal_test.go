package runtime

import (
	"bytes"
	"os"
	"testing"

	"github.com/empirefederation/neuron/internal/interrupt"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/internal/wasmbound"
	"github.com/empirefederation/neuron/internal/wasmdata"
)

// TestPreparedCache: the cache returns exactly what interrupt.Instrument
// makes of a module whose tables wasmbound.Bound capped and whose data
// segments wasmdata.Coalesce merged, reuses
// it for the same digest without preparing it again, remembers that a
// module is not instrumentable, and stays within its byte limit by
// evicting the least recently used modules.
func TestPreparedCache(t *testing.T) {
	raw, err := os.ReadFile(testutil.BuildWasm(t, "runtime/testdata/guests/echo"))
	if err != nil {
		t.Fatal(err)
	}
	bounded, err := wasmbound.Bound(raw, wasmbound.DefaultBudget)
	if err != nil || bytes.Equal(bounded, raw) {
		t.Fatalf("Bound: %v, or no table to cap in the echo guest", err)
	}
	coalesced, err := wasmdata.Coalesce(bounded)
	if err != nil || bytes.Equal(coalesced, bounded) {
		t.Fatalf("Coalesce: %v, or nothing to merge in the echo guest", err)
	}
	want, err := interrupt.Instrument(coalesced)
	if err != nil {
		t.Fatal(err)
	}
	// A function of v128.const, drop: SIMD, which the instrumentation does
	// not walk.
	simd := append([]byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x17\x01\x15\x00\xfd\x0c"),
		append(make([]byte, 16), 0x1a, 0x0b)...)
	if _, err := interrupt.Instrument(simd); err == nil {
		t.Fatal("the SIMD module instruments; pick one that does not")
	}

	c := newPreparedCache(len(want) + len(want)/2) // room for one module
	for _, tc := range []struct {
		name       string
		digest     string
		raw        []byte
		want       []byte
		wantInstr  bool
		sameAsLast bool // the very slice returned the previous time: a cache hit
	}{
		{"first load instruments", "a", raw, want, true, false},
		{"same digest reuses", "a", raw, want, true, true},
		{"not instrumentable: the original", "simd", simd, simd, false, false},
		{"not instrumentable, again", "simd", simd, simd, false, false},
		{"another module evicts the first", "b", raw, want, true, false},
		{"the first is instrumented afresh", "a", raw, want, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := c.byKey[tc.digest]
			code, ok, err := c.code(tc.digest, tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantInstr || !bytes.Equal(code, tc.want) {
				t.Fatalf("code(%s) = %d bytes, %v; want %d bytes, %v", tc.digest, len(code), ok, len(tc.want), tc.wantInstr)
			}
			if tc.sameAsLast && (before == nil || &before.Value.(*preparedEntry).code[0] != &code[0]) {
				t.Errorf("code(%s) made new code; want the cached slice", tc.digest)
			}
			if !tc.sameAsLast && tc.wantInstr && before != nil {
				t.Errorf("code(%s) was cached before; the table expected a miss", tc.digest)
			}
			if c.size > c.limit {
				t.Errorf("cache holds %d bytes over its limit %d", c.size, c.limit)
			}
		})
	}
	if _, ok := c.byKey["b"]; ok {
		t.Errorf("b still cached after a took its room")
	}
}
