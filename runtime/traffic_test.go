package runtime_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// TestTraffic sends a known number of requests of every outcome and checks
// that Traffic counts each exactly, bytes included, in the row of the
// processor that answered or the unclaimed row, and that the counts survive
// a reload of the same versions.
func TestTraffic(t *testing.T) {
	const spinTimeout = 200 * time.Millisecond
	e := startEnv(t, runtime.Options{PluginLimits: map[string]runtime.Limits{"loop": {CallTimeout: spinTimeout}}},
		guests(t, "echo", "loop"))
	body := bytes.Repeat([]byte("x"), 1000)

	tests := []struct {
		name         string
		method, path string
		body         []byte
		n            int
		status       int
		row          string // plugin whose row counts it; "" for unclaimed
	}{
		{"200 without a body", "GET", "/t/echo/1", nil, 5, http.StatusOK, "echo"},
		{"200 with a body", "POST", "/t/echo/2", body, 4, http.StatusOK, "echo"},
		{"4xx from the guest", "GET", "/t/echo/size/x", nil, 3, http.StatusBadRequest, "echo"},
		{"504 timeout", "GET", "/t/loop/spin", nil, 2, http.StatusGatewayTimeout, "loop"},
		{"200 after the timeouts", "GET", "/t/loop/ok", nil, 1, http.StatusOK, "loop"},
		{"404 from the router", "GET", "/nothing/here", nil, 3, http.StatusNotFound, ""},
		{"405 from the router", "PUT", "/t/echo/1", nil, 2, http.StatusMethodNotAllowed, ""},
	}
	want := map[string]*runtime.Traffic{"echo": {}, "loop": {}, "": {}}
	for _, tc := range tests {
		for range tc.n {
			r := e.do(tc.method, tc.path, bytes.NewReader(tc.body))
			if r.status != tc.status {
				t.Fatalf("%s: %s %s answered %d %.200s, want %d", tc.name, tc.method, tc.path, r.status, r.body, tc.status)
			}
			w := want[tc.row]
			w.Requests++
			switch {
			case tc.status < 400:
				w.Succeeded++
			case tc.status < 500:
				w.ClientErrors++
			default:
				w.ServerErrors++
			}
			if tc.row != "" { // the router reads no body
				w.BytesIn += uint64(len(tc.body))
			}
			w.BytesOut += uint64(len(r.body))
		}
	}

	check := func(t *testing.T, what string) map[string]runtime.Traffic {
		t.Helper()
		got := map[string]runtime.Traffic{}
		rows := e.rt.Traffic()
		for _, row := range rows {
			got[row.Plugin] = row
		}
		if len(rows) != 3 || len(got) != 3 {
			t.Fatalf("%s: Traffic() = %+v; want one row for echo, one for loop, one unclaimed", what, rows)
		}
		for plugin, w := range want {
			g := got[plugin]
			if g.LatencyNanos == 0 {
				t.Errorf("%s: row %q has no latency", what, plugin)
			}
			g.LatencyNanos = 0
			w.Plugin = plugin
			if plugin != "" {
				w.Version = "1.0.0"
			}
			if g != *w {
				t.Errorf("%s: row %q\n got %+v\nwant %+v", what, plugin, g, *w)
			}
		}
		// Each spin ran until its deadline: a lower bound, not a speed check.
		if l := got["loop"].LatencyNanos; l < uint64(2*spinTimeout) {
			t.Errorf("%s: loop latency %v, less than its two timed-out calls", what, time.Duration(l))
		}
		return got
	}
	before := check(t, "after the requests")
	if n := e.rt.InFlight(); n != 0 {
		t.Errorf("InFlight() = %d with no request running", n)
	}

	e.run(t, "survives a reload", func(t *testing.T, e *env) {
		for _, name := range []string{"echo", "loop"} {
			if ch, err := e.rt.Reload(context.Background(), name); err != nil || len(ch.Loaded) != 1 {
				t.Fatalf("Reload(%s) = %+v, %v; want one version opened again", name, ch, err)
			}
		}
		check(t, "after a reload")
		r := e.get("/t/echo/3")
		want["echo"].Requests++
		want["echo"].Succeeded++
		want["echo"].BytesOut += uint64(len(r.body))
		after := check(t, "after a reload and one more request")
		if after["echo"].LatencyNanos <= before["echo"].LatencyNanos {
			t.Errorf("echo latency went from %d to %d", before["echo"].LatencyNanos, after["echo"].LatencyNanos)
		}
	})
}

// TestInFlightAndWaiting holds one call in the hold guest, whose pool has a
// single instance, and queues a second behind it: InFlight counts both,
// Waiting the second.
func TestInFlightAndWaiting(t *testing.T) {
	e := startEnv(t, runtime.Options{PluginLimits: map[string]runtime.Limits{"hold": {PoolMin: 1, PoolMax: 1, PoolQueue: 4}}},
		guests(t, "hold"))
	first := e.hold("a")
	testutil.Eventually(t, waitLimit, "the first call to hold the instance", func() bool { return e.processor("hold").Pool.Busy == 1 })
	second := e.hold("a")
	testutil.Eventually(t, waitLimit, "the second call to wait", func() bool { return e.rt.Waiting() == 1 })
	if n := e.rt.InFlight(); n != 2 {
		t.Errorf("InFlight() = %d with one call running and one waiting, want 2", n)
	}
	e.release("a")
	for _, ch := range []<-chan reply{first, second} {
		if r := <-ch; r.status != http.StatusOK || string(r.body) != "released a" {
			t.Errorf("held call answered %d %q", r.status, r.body)
		}
	}
	if n, w := e.rt.InFlight(), e.rt.Waiting(); n != 0 || w != 0 {
		t.Errorf("after both calls: InFlight() = %d, Waiting() = %d; want 0 and 0", n, w)
	}
}

// hold starts GET /t/hold/wait/key, which the hold guest answers only once
// the configuration's "release" is key (see release); the channel gets the
// answer.
func (e *env) hold(key string) <-chan reply {
	ch := make(chan reply, 1)
	go func() {
		r, err := e.send(context.Background(), "GET", "/t/hold/wait/"+key, nil)
		if err != nil {
			r.status, r.body = -1, []byte(err.Error())
		}
		ch <- r
	}()
	return ch
}

// release lets the held calls waiting for key answer, keeping the rest of
// the Dynamic.
func (e *env) release(key string) {
	e.t.Helper()
	d := e.rt.Dynamic()
	if d.Settings == nil {
		d.Settings = map[string]any{}
	}
	d.Settings["release"] = key
	if err := e.rt.SetDynamic(d); err != nil {
		e.t.Fatal(err)
	}
}
