package runtime_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/runtime"
	"github.com/empirefederation/neuron/sdk/abi"
)

// The echo guest's POST /t/echo/host calls every host function; the runtime
// binds them to the processor: its logger, its configuration, its metrics
// and the runtime's events.
func TestHostFunctions(t *testing.T) {
	big := strings.Repeat("b", 5000) // far past the guest's first 8-byte buffer
	e := startEnv(t, runtime.Options{
		Settings: map[string]any{"region": "eu", "shared": "settings", "batchSize": 100},
		Plugins: map[string]map[string]any{
			"echo":  {"shared": "plugin", "big": big},
			"other": {"secret": "not for echo"},
		},
	}, guests(t, "echo"))

	const calls = 3
	for i := range calls {
		r := e.do("POST", "/t/echo/host", nil)
		if r.status != http.StatusOK {
			t.Fatalf("call %d: status %d body %.300s", i, r.status, r.body)
		}
		if i > 0 {
			continue
		}
		e.run(t, "config", func(t *testing.T, e *env) {
			var got map[string]any
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("config %.300q: %v", r.body, err)
			}
			want := map[string]any{"region": "eu", "shared": "plugin", "batchSize": 100.0, "big": big}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("config = %.300v, want Settings merged with Plugins[echo]", got)
			}
		})
		e.run(t, "status codes", func(t *testing.T, e *env) {
			if m, ev := r.header.Get("X-Metric"), r.header.Get("X-Event"); m != "0" || ev != "0" {
				t.Errorf("metric_add = %s, event_emit = %s; want 0 and 0", m, ev)
			}
		})
	}

	e.run(t, "log", func(t *testing.T, e *env) {
		recs := e.logs.find("echo host", "plugin", "echo", "version", "1.0.0", "k", "v", "level", "INFO")
		if len(recs) != calls {
			t.Fatalf("found %d \"echo host\" records with plugin=echo version=1.0.0 k=v, want %d", len(recs), calls)
		}
		if recs[0]["file"] != "echo.wasm" || recs[0]["digest"] == nil {
			t.Errorf("record %v lacks the file and digest of the processor", recs[0])
		}
	})
	e.run(t, "metric", func(t *testing.T, e *env) {
		got := e.mustMetric("neuron_plugin_custom_total", "name", "echoCalls", "plugin", "echo", "version", "1.0.0")
		if got != calls {
			t.Errorf("neuron_plugin_custom_total{echoCalls} = %v, want %d", got, calls)
		}
		if got := e.processor("echo").Custom; !reflect.DeepEqual(got, map[string]float64{"echoCalls": calls}) {
			t.Errorf("Processors()[echo].Custom = %v", got)
		}
	})
	e.run(t, "event", func(t *testing.T, e *env) {
		evs := e.events.ofType("echo_event")
		if len(evs) != calls {
			t.Fatalf("%d echo_event events, want %d", len(evs), calls)
		}
		ev := evs[0]
		if ev.Plugin != "echo" || ev.Version != "1.0.0" || !ev.Guest || string(ev.Data) != `{"n":1}` || ev.Time.IsZero() {
			t.Errorf("event %+v (data %s)", ev, ev.Data)
		}
		if got := e.mustMetric("neuron_events_total", "plugin", "echo", "type", "echo_event"); got != calls {
			t.Errorf("neuron_events_total{echo_event} = %v, want %d", got, calls)
		}
	})

	e.run(t, "bad pointers", func(t *testing.T, e *env) {
		discarded := e.processor("echo").Pool.Discarded
		r := e.do("POST", "/t/echo/badhost", nil)
		if r.status != http.StatusOK {
			t.Fatalf("status %d body %.300s; a bad host call must not trap the guest", r.status, r.body)
		}
		var got map[string]int32
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		bad := abi.ErrCodeBadPointer
		if want := map[string]int32{"config": bad, "metricAdd": bad, "eventEmitType": bad, "eventEmitData": bad}; !reflect.DeepEqual(got, want) {
			t.Errorf("host results %v, want %v", got, want)
		}
		if len(e.logs.find("guest log call with a pointer outside its memory", "plugin", "echo", "level", "WARN")) != 1 {
			t.Error("the bad log call was not reported as a warning of the processor")
		}
		if r := e.get("/t/echo/1"); r.status != http.StatusOK {
			t.Errorf("echo after bad host calls: status %d", r.status)
		}
		if got := e.processor("echo").Pool.Discarded; got != discarded {
			t.Errorf("%d instances discarded after bad host calls, want none", got-discarded)
		}
	})
}

// Without settings a processor reads an empty object, which fits the
// guest's first buffer.
func TestHostFunctions_EmptyConfig(t *testing.T) {
	e := startEnv(t, runtime.Options{}, guests(t, "echo"))
	r := e.do("POST", "/t/echo/host", nil)
	if r.status != http.StatusOK || string(r.body) != "{}" {
		t.Errorf("status %d config %q, want 200 {}", r.status, r.body)
	}
}
