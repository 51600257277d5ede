package host_test

import (
	"bytes"
	"math"
	"reflect"
	"testing"

	"github.com/tetratelabs/wazero/api"

	"github.com/empirefederation/neuron/sdk/abi"
)

func TestMetricAdd(t *testing.T) {
	e := newEnv("{}")
	g := newGuest(t, newRuntime(t, e), hostcallGuest)
	name := g.put(0, []byte("requests"))
	longest := g.put(1024, bytes.Repeat([]byte("m"), abi.MaxNameBytes))
	tooLong := g.put(2048, bytes.Repeat([]byte("m"), abi.MaxNameBytes+1))
	notUTF8 := g.put(4096, []byte("bad\xff"))

	tests := []struct {
		name   string
		ptr, n uint32
		v      float64
		want   int32
		added  map[string]float64
	}{
		{"adds", name, 8, 2.5, abi.OK, map[string]float64{"requests": 2.5}},
		{"adds zero", name, 8, 0, abi.OK, map[string]float64{"requests": 0}},
		{"longest name", longest, abi.MaxNameBytes, 1, abi.OK, map[string]float64{string(bytes.Repeat([]byte("m"), abi.MaxNameBytes)): 1}},
		{"name too long", tooLong, abi.MaxNameBytes + 1, 1, abi.ErrCodeLimit, nil},
		{"empty name", name, 0, 1, abi.ErrCodeInvalid, nil},
		{"name not UTF-8", notUTF8, 4, 1, abi.ErrCodeInvalid, nil},
		{"negative", name, 8, -1, abi.ErrCodeInvalid, nil},
		{"NaN", name, 8, math.NaN(), abi.ErrCodeInvalid, nil},
		{"+Inf", name, 8, math.Inf(1), abi.ErrCodeInvalid, nil},
		{"-Inf", name, 8, math.Inf(-1), abi.ErrCodeInvalid, nil},
	}
	for _, r := range badRanges(g.memSize()) {
		tests = append(tests, struct {
			name   string
			ptr, n uint32
			v      float64
			want   int32
			added  map[string]float64
		}{r.name, r.ptr, r.len, 1, abi.ErrCodeBadPointer, nil})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.reset()
			got := g.status("call_metric_add", uint64(tc.ptr), uint64(tc.n), api.EncodeF64(tc.v))
			if got != tc.want {
				t.Errorf("metric_add = %d, want %d", got, tc.want)
			}
			if len(tc.added) == 0 && len(e.metrics) == 0 {
				return
			}
			if !reflect.DeepEqual(e.metrics, tc.added) {
				t.Errorf("added %v, want %v", e.metrics, tc.added)
			}
		})
	}

	t.Run("name is copied", func(t *testing.T) {
		e.reset()
		g.status("call_metric_add", uint64(name), 8, api.EncodeF64(1))
		g.put(0, []byte("XXXXXXXX"))
		g.status("call_metric_add", uint64(name), 8, api.EncodeF64(1))
		if want := map[string]float64{"requests": 1, "XXXXXXXX": 1}; !reflect.DeepEqual(e.metrics, want) {
			t.Errorf("metrics %v, want %v: a name aliased guest memory", e.metrics, want)
		}
	})
}

// TestCapsRefuse: when the processor's caps refuse a counter or an event,
// the guest is told abi.ErrCodeLimit.
func TestCapsRefuse(t *testing.T) {
	e := newEnv("{}")
	e.full = true
	g := newGuest(t, newRuntime(t, e), hostcallGuest)
	name := g.put(0, []byte("requests"))
	data := g.put(64, []byte(`{}`))
	if got := g.status("call_metric_add", uint64(name), 8, api.EncodeF64(1)); got != abi.ErrCodeLimit {
		t.Errorf("metric_add past the cap = %d, want ErrCodeLimit", got)
	}
	if got := g.status("call_event_emit", uint64(name), 8, uint64(data), 2); got != abi.ErrCodeLimit {
		t.Errorf("event_emit past the cap = %d, want ErrCodeLimit", got)
	}
	if len(e.metrics) != 0 || len(e.events) != 0 {
		t.Errorf("recorded %v and %v past the caps", e.metrics, e.events)
	}
}
