package host_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/sdk/abi"
)

func TestLog(t *testing.T) {
	e := newEnv("{}") // logs at Info and above
	g := newGuest(t, newRuntime(t, e), hostcallGuest)
	long := strings.Repeat("a", abi.MaxLogBytes+100)

	tests := []struct {
		name  string
		level int32
		msg   string
		want  []map[string]any
	}{
		{"plain text", abi.LogInfo, "hello", []map[string]any{{"level": "INFO", "msg": "hello"}}},
		{"levels", abi.LogError, "bad", []map[string]any{{"level": "ERROR", "msg": "bad"}}},
		{"warn", abi.LogWarn, "careful", []map[string]any{{"level": "WARN", "msg": "careful"}}},
		{"below the handler's level", abi.LogDebug, "noise", nil},
		{"JSON object: msg and attributes", abi.LogInfo, `{"msg":"order","id":42,"ok":true,"tags":["a"]}`,
			[]map[string]any{{"level": "INFO", "msg": "order", "id": 42.0, "ok": true, "tags": []any{"a"}}}},
		{"JSON object without msg", abi.LogInfo, `{"k":"v"}`, []map[string]any{{"level": "INFO", "msg": "", "k": "v"}}},
		{"invalid JSON is text", abi.LogInfo, `{"k":`, []map[string]any{{"level": "INFO", "msg": `{"k":`}}},
		{"JSON array is text", abi.LogInfo, `[1]`, []map[string]any{{"level": "INFO", "msg": `[1]`}}},
		{"empty", abi.LogInfo, "", []map[string]any{{"level": "INFO", "msg": ""}}},
		{"cut at MaxLogBytes", abi.LogInfo, long, []map[string]any{{"level": "INFO", "msg": long[:abi.MaxLogBytes]}}},
		{"level between the named ones", 2, "two", []map[string]any{{"level": "INFO+2", "msg": "two"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.reset()
			ptr := g.put(0, []byte(tc.msg))
			g.call("call_log", uint64(uint32(tc.level)), uint64(ptr), uint64(len(tc.msg)))
			if got := e.records(t); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("logged %v, want %v", got, tc.want)
			}
		})
	}
	for _, r := range badRanges(g.memSize()) {
		t.Run(r.name, func(t *testing.T) {
			e.reset()
			g.call("call_log", uint64(uint32(abi.LogInfo)), uint64(r.ptr), uint64(r.len))
			want := []map[string]any{{"level": "WARN", "msg": "guest log call with a pointer outside its memory",
				"ptr": float64(r.ptr), "len": float64(r.len)}}
			if got := e.records(t); !reflect.DeepEqual(got, want) {
				t.Errorf("logged %v, want %v", got, want)
			}
		})
	}
}
