package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
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

	epochs := map[string]uint64{} // of the first check: a reload keeps them
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
				if _, ok := epochs[plugin]; !ok {
					epochs[plugin] = g.Epoch
				}
				w.Epoch = epochs[plugin]
			}
			if !reflect.DeepEqual(g, *w) {
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

// rows returns e's Traffic by NAME@VERSION, without the unclaimed row.
func (e *env) rows() map[string]runtime.Traffic {
	out := map[string]runtime.Traffic{}
	for _, tr := range e.rt.Traffic() {
		if tr.Plugin != "" {
			out[tr.Plugin+"@"+tr.Version] = tr
		}
	}
	return out
}

// TestTraffic_OutlivesTheVersion: the row of a version replaced by a
// swap, unloaded, or left by a rollback stays in Traffic with everything
// it served, custom counters included, and a version loaded again
// continues its row (the same Epoch): a reader diffing two readings counts
// every request once whatever happened to the version in between.
func TestTraffic_OutlivesTheVersion(t *testing.T) {
	v1, v2 := guestBuild(t, "echo", "1.0.0", "a"), guestBuild(t, "echo", "1.1.0", "b")
	e := startEnv(t, runtime.Options{}, v1.files("echo"))
	call := func(n int, want string) {
		t.Helper()
		for range n {
			r := e.do("POST", "/t/echo/host", nil)
			if r.status != http.StatusOK || r.header.Get(runtime.HeaderPlugin) != want {
				t.Fatalf("POST /t/echo/host: %d from %q %.200s, want 200 from %s", r.status, r.header.Get(runtime.HeaderPlugin), r.body, want)
			}
		}
	}
	check := func(what string, want map[string]float64) map[string]runtime.Traffic {
		t.Helper()
		got := e.rows()
		for id, n := range want {
			if tr := got[id]; tr.Requests != uint64(n) || tr.Custom["echoCalls"] != n {
				t.Errorf("%s: %s row %+v, want %v requests and echoCalls", what, id, tr, n)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: rows %v, want %v", what, got, want)
		}
		return got
	}

	call(3, "echo@1.0.0")
	first := check("before the swap", map[string]float64{"echo@1.0.0": 3})
	e.put(v2.files("echo"))
	e.sync()
	call(2, "echo@1.1.0")
	e.settled()
	check("after the swap to 1.1.0", map[string]float64{"echo@1.0.0": 3, "echo@1.1.0": 2})

	if _, _, err := e.rt.Rollback(context.Background(), "echo"); err != nil {
		t.Fatal(err)
	}
	call(4, "echo@1.0.0")
	e.settled()
	again := check("after the rollback to 1.0.0", map[string]float64{"echo@1.0.0": 7, "echo@1.1.0": 2})
	if again["echo@1.0.0"].Epoch != first["echo@1.0.0"].Epoch {
		t.Errorf("1.0.0 loaded again has epoch %d, was %d: its counters should continue", again["echo@1.0.0"].Epoch, first["echo@1.0.0"].Epoch)
	}

	// A rebuild of the serving version continues its custom counters too.
	e.put(guestBuild(t, "echo", "1.0.0", "c").files("echo"))
	if err := e.rt.Unpin(context.Background(), "echo"); err != nil {
		t.Fatal(err)
	}
	e.sync()
	call(1, "echo@1.0.0")
	e.settled()
	check("after a rebuild of 1.0.0", map[string]float64{"echo@1.0.0": 8, "echo@1.1.0": 2})

	if err := e.rt.Unload(context.Background(), "echo"); err != nil {
		t.Fatal(err)
	}
	e.settled()
	check("after the unload", map[string]float64{"echo@1.0.0": 8, "echo@1.1.0": 2})
	if err := e.rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("after Close", map[string]float64{"echo@1.0.0": 8, "echo@1.1.0": 2})
}

// okVersion is the ok.wat processor "ok" at version, serving GET /w/ok/handle.
func okVersion(t *testing.T, version string) map[string][]byte {
	t.Helper()
	files := watPlugin(t, "ok", "ok", "", "handle")
	var m map[string]any
	if err := json.Unmarshal(files["ok.json"], &m); err != nil {
		t.Fatal(err)
	}
	m["version"] = version
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	files["ok.json"] = b
	return files
}

// TestTraffic_RetiredVersionsBounded: the runtime keeps the rows of the
// last MaxRetiredVersions versions that left, forgets the oldest past
// that, and forgets at once a version that served nothing; a version it
// forgot counts from zero when loaded again, under a new Epoch.
func TestTraffic_RetiredVersionsBounded(t *testing.T) {
	e := startEnv(t, runtime.Options{}, okVersion(t, "0.0.1"))
	e.put(okVersion(t, "0.0.2")) // 0.0.1 served nothing: forgotten at once
	e.sync()
	e.settled()
	if _, kept := e.rows()["ok@0.0.1"]; kept {
		t.Errorf("rows %v keep ok@0.0.1, which served nothing", e.rows())
	}
	first := e.rows()["ok@0.0.2"]
	for i := range runtime.MaxRetiredVersions + 1 {
		if r := e.get("/w/ok/handle"); r.status != http.StatusOK {
			t.Fatalf("GET /w/ok/handle: %d %s", r.status, r.body)
		}
		e.put(okVersion(t, fmt.Sprintf("1.0.%d", i)))
		e.sync()
	}
	e.settled()
	rows := e.rows()
	if _, kept := rows["ok@0.0.2"]; kept || len(rows) != runtime.MaxRetiredVersions+1 {
		t.Errorf("%d rows, ok@0.0.2 kept %v; want the %d retired last and the one loaded", len(rows), kept, runtime.MaxRetiredVersions)
	}
	if tr := rows["ok@1.0.0"]; tr.Requests != 1 {
		t.Errorf("ok@1.0.0, retired, has %+v; want its 1 request", tr)
	}
	e.put(okVersion(t, "0.0.2"))
	e.sync()
	if r := e.get("/w/ok/handle"); r.status != http.StatusOK || r.header.Get(runtime.HeaderPlugin) != "ok@0.0.2" {
		t.Fatalf("GET /w/ok/handle: %d from %q", r.status, r.header.Get(runtime.HeaderPlugin))
	}
	if tr := e.rows()["ok@0.0.2"]; tr.Requests != 1 || tr.Epoch == first.Epoch {
		t.Errorf("ok@0.0.2 loaded again after it was forgotten: %+v; want 1 request under an epoch other than %d", tr, first.Epoch)
	}
}
