package codecache

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero/api"

	"github.com/empirefederation/neuron/internal/interrupt"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/internal/wasmbound"
	"github.com/empirefederation/neuron/internal/wasmdata"
)

// TestPreparedCache: the cache returns exactly what interrupt.Instrument
// makes of a module whose tables wasmbound.Bound capped and whose data
// segments wasmdata.Coalesce merged, reuses
// it for the same digest without preparing it again, remembers that a
// module is not instrumentable, refuses one the instrumentation finds
// invalid without keeping it, and stays within its byte limit by evicting
// the least recently used modules.
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

	// global.get 1 in a module of one global: invalid, and valid if
	// instrumented without looking, where global 1 is the interrupt tick.
	invalid := testutil.AssembleModule(1, testutil.WasmFunc{Export: "f", Results: []api.ValueType{api.ValueTypeI32}, Body: testutil.GlobalGet(1)})

	c := NewPrepared(len(want) + len(want)/2) // room for one module
	for _, tc := range []struct {
		name       string
		digest     string
		raw        []byte
		want       []byte
		wantInstr  bool
		sameAsLast bool   // the very slice returned the previous time: a cache hit
		wantErr    string // the start of the refusal
	}{
		{"first load instruments", "a", raw, want, true, false, ""},
		{"same digest reuses", "a", raw, want, true, true, ""},
		{"not instrumentable: the original", "simd", simd, simd, false, false, ""},
		{"not instrumentable, again", "simd", simd, simd, false, false, ""},
		{"invalid: refused", "invalid", invalid, nil, false, false, "invalid module: code at byte 1: global index 1 is out of range"},
		{"invalid, again: refused, never cached", "invalid", invalid, nil, false, false, "invalid module"},
		{"another module evicts the first", "b", raw, want, true, false, ""},
		{"the first is instrumented afresh", "a", raw, want, true, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := c.byKey[tc.digest]
			code, ok, err := c.Code(tc.digest, tc.raw)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) || code != nil || c.byKey[tc.digest] != nil {
					t.Fatalf("code(%s) = %d bytes, %v; want no code, not cached, and an error starting %q", tc.digest, len(code), err, tc.wantErr)
				}
				return
			}
			if err != nil || ok != tc.wantInstr || !bytes.Equal(code, tc.want) {
				t.Fatalf("code(%s) = %d bytes, %v, %v; want %d bytes, %v", tc.digest, len(code), ok, err, len(tc.want), tc.wantInstr)
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
