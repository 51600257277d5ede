package host_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/sdk/abi"
)

func TestConfig(t *testing.T) {
	const cfg = `{"batchSize":100,"name":"orders"}`
	e := newEnv(cfg)
	g := newGuest(t, newRuntime(t, e), hostcallGuest)
	n := uint32(len(cfg))
	fill := bytes.Repeat([]byte{'.'}, 256)

	tests := []struct {
		name     string
		ptr, cap uint32
		want     int32
		written  bool
	}{
		{"exact fit", g.buf, n, int32(n), true},
		{"larger buffer", g.buf, 256, int32(n), true},
		{"buffer one byte short", g.buf, n - 1, int32(n), false},
		{"length query", g.buf, 0, int32(n), false},
		{"buffer ends at the end of memory", g.memSize() - n, n, int32(n), true},
	}
	for _, r := range badRanges(g.memSize()) {
		tests = append(tests, struct {
			name     string
			ptr, cap uint32
			want     int32
			written  bool
		}{r.name, r.ptr, r.len, abi.ErrCodeBadPointer, false})
	}
	// A buffer outside memory is refused even when the config would not
	// fit in it.
	tests = append(tests, struct {
		name     string
		ptr, cap uint32
		want     int32
		written  bool
	}{"short buffer outside memory", g.memSize(), 4, abi.ErrCodeBadPointer, false})

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := g.mod.Memory()
			inRange := uint64(tc.ptr)+uint64(len(fill)) <= uint64(mem.Size())
			if inRange {
				mem.Write(tc.ptr, fill)
			}
			if got := g.status("call_config", uint64(tc.ptr), uint64(tc.cap)); got != tc.want {
				t.Fatalf("config = %d, want %d", got, tc.want)
			}
			b, ok := mem.Read(tc.ptr, n)
			switch {
			case tc.written && (!ok || string(b) != cfg):
				t.Errorf("memory holds %q, want the config", b)
			case !tc.written && inRange && !bytes.Equal(b, fill[:n]):
				t.Errorf("memory changed to %q though the config was not copied", b)
			}
		})
	}

	t.Run("read on every call", func(t *testing.T) {
		e.mu.Lock()
		e.config = []byte(`{"v":2}`)
		e.mu.Unlock()
		defer func() { e.mu.Lock(); e.config = []byte(cfg); e.mu.Unlock() }()
		if got := g.status("call_config", uint64(g.buf), 256); got != 7 {
			t.Fatalf("config = %d, want 7", got)
		}
		if b, _ := g.mod.Memory().Read(g.buf, 7); string(b) != `{"v":2}` {
			t.Errorf("memory holds %q, want the new config", b)
		}
	})
	t.Run("large config", func(t *testing.T) {
		big := `{"k":"` + strings.Repeat("v", 100<<10) + `"}`
		e.mu.Lock()
		e.config = []byte(big)
		e.mu.Unlock()
		defer func() { e.mu.Lock(); e.config = []byte(cfg); e.mu.Unlock() }()
		if got := g.status("call_config", uint64(g.buf), 8); got != int32(len(big)) {
			t.Fatalf("config with 8 bytes = %d, want the length %d", got, len(big))
		}
		if got := g.status("call_config", uint64(g.buf), uint64(len(big))); got != int32(len(big)) {
			t.Fatalf("config with room = %d, want %d", got, len(big))
		}
		if b, _ := g.mod.Memory().Read(g.buf, uint32(len(big))); string(b) != big {
			t.Error("the large config was not copied whole")
		}
	})
}
