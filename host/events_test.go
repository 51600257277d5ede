package host_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/sdk/abi"
)

func TestEventEmit(t *testing.T) {
	e := newEnv("{}")
	g := newGuest(t, newRuntime(t, e), hostcallGuest)
	var off uint32
	put := func(s string) (uint64, uint64) { // each string after the last
		ptr := g.put(off, []byte(s))
		off += uint32(len(s))
		return uint64(ptr), uint64(len(s))
	}
	typ, typLen := put("order_placed")

	tests := []struct {
		name string
		typ  string // empty: "order_placed"
		data string
		want int32
		got  []event // recorded
	}{
		{name: "object", data: `{"n":1,"s":"x"}`, want: abi.OK, got: []event{{"order_placed", `{"n":1,"s":"x"}`}}},
		{name: "empty data is an empty object", data: ``, want: abi.OK, got: []event{{"order_placed", `{}`}}},
		{name: "object with spaces", data: " \n{\"a\":[1,2]} ", want: abi.OK, got: []event{{"order_placed", " \n{\"a\":[1,2]} "}}},
		{name: "largest data", data: `{"p":"` + strings.Repeat("x", abi.MaxEventBytes-8) + `"}`, want: abi.OK},
		{name: "longest type", typ: strings.Repeat("t", abi.MaxNameBytes), data: `{}`, want: abi.OK},
		{name: "array", data: `[1,2]`, want: abi.ErrCodeInvalid},
		{name: "string", data: `"x"`, want: abi.ErrCodeInvalid},
		{name: "not JSON", data: `not json`, want: abi.ErrCodeInvalid},
		{name: "cut short", data: `{"a":`, want: abi.ErrCodeInvalid},
		{name: "trailing data", data: `{} {}`, want: abi.ErrCodeInvalid},
		{name: "type not UTF-8", typ: "bad\xff", data: `{}`, want: abi.ErrCodeInvalid},
		{name: "data too large", data: `{"p":"` + strings.Repeat("x", abi.MaxEventBytes-7) + `"}`, want: abi.ErrCodeLimit},
		{name: "type too long", typ: strings.Repeat("t", abi.MaxNameBytes+1), data: `{}`, want: abi.ErrCodeLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.reset()
			off = uint32(typLen)
			tp, tl := typ, typLen
			if tc.typ != "" {
				tp, tl = put(tc.typ)
			}
			dp, dl := put(tc.data)
			if got := g.status("call_event_emit", tp, tl, dp, dl); got != tc.want {
				t.Fatalf("event_emit = %d, want %d", got, tc.want)
			}
			switch {
			case tc.want != abi.OK && len(e.events) != 0:
				t.Errorf("a refused event was recorded: %v", e.events)
			case tc.want == abi.OK && len(e.events) != 1:
				t.Errorf("recorded %d events, want 1", len(e.events))
			case tc.got != nil && !reflect.DeepEqual(e.events, tc.got):
				t.Errorf("recorded %v, want %v", e.events, tc.got)
			}
		})
	}

	t.Run("empty type", func(t *testing.T) {
		e.reset()
		dp, dl := put(`{}`)
		if got := g.status("call_event_emit", typ, 0, dp, dl); got != abi.ErrCodeInvalid {
			t.Errorf("event_emit = %d, want %d", got, abi.ErrCodeInvalid)
		}
	})
	for _, r := range badRanges(g.memSize()) {
		t.Run(r.name, func(t *testing.T) {
			e.reset()
			dp, dl := put(`{}`)
			if got := g.status("call_event_emit", uint64(r.ptr), uint64(r.len), dp, dl); got != abi.ErrCodeBadPointer {
				t.Errorf("bad type range: event_emit = %d, want %d", got, abi.ErrCodeBadPointer)
			}
			if got := g.status("call_event_emit", typ, typLen, uint64(r.ptr), uint64(r.len)); got != abi.ErrCodeBadPointer {
				t.Errorf("bad data range: event_emit = %d, want %d", got, abi.ErrCodeBadPointer)
			}
			if len(e.events) != 0 {
				t.Errorf("recorded %v", e.events)
			}
		})
	}
	t.Run("data is copied", func(t *testing.T) {
		e.reset()
		off = uint32(typLen)
		dp, dl := put(`{"v":1}`)
		g.status("call_event_emit", typ, typLen, dp, dl)
		g.put(uint32(dp)-g.buf, []byte(`{"v":2}`))
		if e.events[0].Data != `{"v":1}` {
			t.Errorf("recorded data %s changed with guest memory", e.events[0].Data)
		}
	})
}
