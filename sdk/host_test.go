//go:build !wasip1

package sdk

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/empirefederation/neuron/sdk/internal/hostcall"
)

func TestAppendJSONString(t *testing.T) {
	tests := []string{"", "plain", `q"b\s`, "\n\r\t\x00\x1f\x7f", "é ✓ 😀", "bad \xff utf8", "\u2028<>&"}
	for _, s := range tests {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("%q encodes as invalid JSON %s: %v", s, b, err)
			continue
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); got != want {
			t.Errorf("%q round-trips as %q", s, got)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("a\"b\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		var got string
		if err := json.Unmarshal(appendJSONString(nil, s), &got); err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("%q round-trips as %q", s, got)
		}
	})
}

type point struct{ X, Y int }

func TestLog(t *testing.T) {
	tests := []struct {
		name  string
		level Level
		msg   string
		attrs []any
		want  string
	}{
		{"no attrs", LevelInfo, "hi", nil, `{"msg":"hi"}`},
		{"scalars", LevelDebug, "m", []any{"s", "v", "i", 3, "f", 1.5, "b", true, "n", nil, "u", uint64(7)},
			`{"msg":"m","s":"v","i":3,"f":1.5,"b":true,"n":null,"u":7}`},
		{"error and struct", LevelError, "m", []any{"err", errors.New("boom"), "p", point{1, 2}},
			`{"msg":"m","err":"boom","p":{"X":1,"Y":2}}`},
		{"non-finite float", LevelWarn, "m", []any{"f", math.NaN()}, `{"msg":"m","f":"NaN"}`},
		{"bad key", LevelInfo, "m", []any{42, "k", "v"}, `{"msg":"m","!BADKEY":42,"k":"v"}`},
		{"lone key", LevelInfo, "m", []any{"k"}, `{"msg":"m","!BADKEY":"k"}`},
		{"unencodable", LevelInfo, "m", []any{"c", make(chan int)}, `{"msg":"m","c":"!ERROR: json: unsupported type: chan int"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hostcall.Reset()
			Log(tc.level, tc.msg, tc.attrs...)
			logs := hostcall.Logs()
			if len(logs) != 1 || logs[0].Level != int32(tc.level) || string(logs[0].Msg) != tc.want {
				t.Fatalf("got %+v, want level %d %s", logs, tc.level, tc.want)
			}
			if !json.Valid(logs[0].Msg) {
				t.Errorf("invalid JSON %s", logs[0].Msg)
			}
		})
	}
}

func TestLogLevels(t *testing.T) {
	hostcall.Reset()
	LogDebug("d")
	LogInfo("i")
	LogWarn("w")
	LogError("e")
	var got []int32
	for _, l := range hostcall.Logs() {
		got = append(got, l.Level)
	}
	if want := []int32{-4, 0, 4, 8}; len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Errorf("levels %v, want %v", got, want)
	}
}

func TestConfig(t *testing.T) {
	t.Cleanup(hostcall.Reset)
	big := `{"name":"` + strings.Repeat("x", 5000) + `","n":2}`
	tests := []struct {
		name, config string
		wantN        int
		wantName     string
	}{
		{"empty object keeps defaults", `{}`, 1, "default"},
		{"no config keeps defaults", ``, 1, "default"},
		{"fits", `{"n":5}`, 5, "default"},
		{"grows the buffer", big, 2, strings.Repeat("x", 5000)},
		{"fits again after growing", `{"n":3,"name":"a"}`, 3, "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hostcall.SetConfig([]byte(tc.config))
			v := struct {
				N    int    `json:"n"`
				Name string `json:"name"`
			}{1, "default"}
			if err := Config(&v); err != nil || v.N != tc.wantN || v.Name != tc.wantName {
				t.Errorf("got %v, n=%d name=%.10q", err, v.N, v.Name)
			}
		})
	}
}

func TestConfig_Errors(t *testing.T) {
	t.Cleanup(hostcall.Reset)
	hostcall.SetConfig([]byte(`{"n":"x"}`))
	var v struct{ N int }
	err := Config(&v)
	if err == nil || !strings.HasPrefix(err.Error(), "host config: json: cannot unmarshal") {
		t.Errorf("got %v", err)
	}
}

func TestCount(t *testing.T) {
	hostcall.Reset()
	Count("a", 1)
	Count("a", 2.5)
	Count("b", 0)
	Count("", 1)
	Count("c", -1)
	Count("\xff", 1)
	m := hostcall.Metrics()
	if len(m) != 2 || m["a"] != 3.5 || m["b"] != 0 {
		t.Errorf("metrics %v", m)
	}
	if logs := hostcall.Logs(); len(logs) != 3 || logs[0].Level != int32(LevelWarn) ||
		!strings.Contains(string(logs[1].Msg), `"name":"c","value":-1,"error":"host metric_add: host refused an invalid argument"`) {
		t.Errorf("refusals logged as %q", logs)
	}
}

func TestEmit(t *testing.T) {
	hostcall.Reset()
	if err := Emit("done", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if err := Emit("empty", nil); err != nil {
		t.Fatal(err)
	}
	ev := hostcall.Events()
	if len(ev) != 2 || ev[0].Type != "done" || string(ev[0].Data) != `{"n":1}` || string(ev[1].Data) != `{}` {
		t.Errorf("events %q", ev)
	}
}

func TestEmit_Errors(t *testing.T) {
	tests := []struct {
		name, typ   string
		data        any
		is          error
		expectedErr string
	}{
		{"empty type", "", nil, ErrInvalid, "host event_emit: host refused an invalid argument"},
		{"type not UTF-8", "t\xff", nil, ErrInvalid, "host event_emit: host refused an invalid argument"},
		{"not an object", "t", []int{1}, ErrInvalid, "host event_emit: host refused an invalid argument"},
		{"long type", strings.Repeat("t", 129), nil, ErrLimit, "host event_emit: host limit exceeded"},
		{"big data", "t", map[string]string{"s": strings.Repeat("x", 64<<10)}, ErrLimit, "host event_emit: host limit exceeded"},
		{"unencodable", "t", map[string]any{"c": make(chan int)}, nil, "host event_emit: json: unsupported type: chan int"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hostcall.Reset()
			err := Emit(tc.typ, tc.data)
			if err == nil || err.Error() != tc.expectedErr || tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("got %v, want %q (is %v)", err, tc.expectedErr, tc.is)
			}
			if len(hostcall.Events()) != 0 {
				t.Error("a refused event was recorded")
			}
		})
	}
}

func BenchmarkLog(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Log(LevelInfo, "request served", "path", "/hello/ada", "status", 200)
	}
	hostcall.Reset()
}
