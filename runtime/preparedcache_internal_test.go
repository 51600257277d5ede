package runtime

import (
	"bytes"
	"os"
	"testing"

	"github.com/empirefederation/neuron/internal/interrupt"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/internal/wasmdata"
)

// TestPreparedCache: the cache returns exactly what interrupt.Instrument
// makes of a module whose data segments wasmdata.Coalesce merged, reuses
// it for the same digest without preparing it again, remembers that a
// module is not instrumentable, and stays within its byte limit by
// evicting the least recently used modules.
func TestPreparedCache(t *testing.T) {
	raw, err := os.ReadFile(testutil.BuildWasm(t, "runtime/testdata/guests/echo"))
	if err != nil {
		t.Fatal(err)
	}
	coalesced, err := wasmdata.Coalesce(raw)
	if err != nil || bytes.Equal(coalesced, raw) {
		t.Fatalf("Coalesce: %v, or nothing to merge in the echo guest", err)
	}
	want, err := interrupt.Instrument(coalesced)
	if err != nil {
		t.Fatal(err)
	}
	junk := []byte("\x00asm\x01\x00\x00\x00\xff") // a header, then nothing valid
	if _, err := interrupt.Instrument(junk); err == nil {
		t.Fatal("the junk module instruments; pick one that does not")
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
		{"not instrumentable: the original", "junk", junk, junk, false, false},
		{"not instrumentable, again", "junk", junk, junk, false, false},
		{"another module evicts the first", "b", raw, want, true, false},
		{"the first is instrumented afresh", "a", raw, want, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := c.byKey[tc.digest]
			code, ok := c.code(tc.digest, tc.raw)
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
