package runtime_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

func digest12(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:12]
}

// A Sync that finds the files as they were keeps every processor: no
// reload, no new pool (the same worker ids), no event. A new file loads
// beside them.
func TestSync_ReusesUnchangedProcessors(t *testing.T) {
	e := startEnv(t, runtime.Options{}, guests(t, "echo", "hold"))
	workers := e.workerIDs("")
	events := len(e.events.ofType(runtime.EventPluginLoaded))

	tests := []struct {
		name   string
		change func(e *env)
	}{
		{"nothing changed", func(*env) {}},
		{"same bytes written again", func(e *env) { e.put(map[string][]byte{"echo.wasm": guest(t, "echo")}) }},
		{"a file that is not a module added", func(e *env) { e.put(map[string][]byte{"notes.txt": []byte("hi")}) }},
		{"a hidden file added", func(e *env) { e.put(map[string][]byte{".echo.wasm.swp": []byte("half")}) }},
	}
	for _, tc := range tests {
		e.run(t, tc.name, func(t *testing.T, e *env) {
			tc.change(e)
			if ch := e.sync(); !ch.Empty() {
				t.Errorf("Sync changed %s, want nothing", summary(ch))
			}
			if got := e.workerIDs(""); !slices.Equal(got, workers) {
				t.Errorf("workers %v after Sync, want the same instances %v", got, workers)
			}
			if n := len(e.events.ofType(runtime.EventPluginLoaded)); n != events {
				t.Errorf("%d %s events, want still %d", n, runtime.EventPluginLoaded, events)
			}
			e.settled()
		})
	}

	e.run(t, "a new file loads beside them", func(t *testing.T, e *env) {
		e.put(guests(t, "trap"))
		ch := e.sync()
		if got := ids(ch.Loaded); !slices.Equal(got, []string{"trap@1.0.0"}) || len(ch.Swapped)+len(ch.Unloaded) != 0 {
			t.Errorf("Sync = %s, want trap@1.0.0 loaded and nothing else", summary(ch))
		}
		if got := e.workerIDs("echo"); !slices.Contains(got, workers[0]) {
			t.Errorf("echo workers %v, want %s kept", got, workers[0])
		}
		e.settled()
	})
}

// A file rejected because its routes belong to a serving processor loads
// once that processor leaves, without being reported again meanwhile.
func TestSync_CollisionRetriedWhenOwnerLeaves(t *testing.T) {
	e := startEnv(t, runtime.Options{}, guests(t, "echo"))
	e.put(map[string][]byte{"a.wasm": guest(t, "dupe")})
	if ch := e.sync(); len(ch.Rejected) != 1 || !strings.Contains(ch.Rejected[0].Reason, "already served by echo@1.0.0") {
		t.Fatalf("Sync = %s, want dupe rejected for echo's route", summary(ch))
	}
	if ch := e.sync(); !ch.Empty() {
		t.Errorf("Sync while echo still serves = %s, want nothing", summary(ch))
	}
	e.remove("echo.wasm")
	ch := e.sync()
	if !slices.Equal(ids(ch.Loaded), []string{"dupe@1.0.0"}) || !slices.Equal(ids(ch.Unloaded), []string{"echo@1.0.0"}) {
		t.Fatalf("Sync after echo left = %s, want dupe loaded", summary(ch))
	}
	if got := e.servedBy("/t/echo/1"); got != "dupe@1.0.0" {
		t.Errorf("/t/echo/1 served by %s, want dupe@1.0.0", got)
	}
	e.settled()
}

// A changed file swaps its processor while a call runs on the old version:
// Sync returns at once, new calls go to the new version, the call in
// flight finishes with 200 on the old one, which then closes and takes its
// metrics series with it.
func TestSync_SwapWithCallInFlight(t *testing.T) {
	v1, v2 := guestBuild(t, "hold", "1.0.0", "a"), guestBuild(t, "hold", "1.1.0", "b")
	e := startEnv(t, runtime.Options{}, v1.files("hold"))
	if got := e.servedBy("/t/hold/ok"); got != "hold@1.0.0" {
		t.Fatalf("served by %s before the swap", got)
	}
	held := e.hold("k")
	testutil.Eventually(t, waitLimit, "the held call", func() bool { return e.rt.InFlight() == 1 })

	e.put(v2.files("hold"))
	ch := e.sync()
	if !slices.Equal(ids(ch.Swapped), []string{"hold@1.1.0"}) || !slices.Equal(ids(ch.Loaded), []string{"hold@1.1.0"}) ||
		!slices.Equal(ids(ch.Unloaded), []string{"hold@1.0.0"}) || len(ch.Rejected) != 0 {
		t.Fatalf("Sync = loaded %v swapped %v unloaded %v rejected %v; want hold@1.1.0 in for hold@1.0.0",
			ids(ch.Loaded), ids(ch.Swapped), ids(ch.Unloaded), ch.Rejected)
	}
	e.run(t, "events", func(t *testing.T, e *env) {
		sw := e.events.ofType(runtime.EventPluginSwapped)
		if len(sw) != 1 {
			t.Fatalf("%d %s events, want 1", len(sw), runtime.EventPluginSwapped)
		}
		d := eventData(t, sw[0])
		if d["from"] != "hold@1.0.0" || d["to"] != "hold@1.1.0" || d["fromDigest"][:12] != v1.digest12 || d["toDigest"][:12] != v2.digest12 {
			t.Errorf("%s data %v", runtime.EventPluginSwapped, d)
		}
		un := e.events.ofType(runtime.EventPluginUnloaded)
		if len(un) != 1 || un[0].Version != "1.0.0" || !strings.Contains(eventData(t, un[0])["reason"], "replaced by hold@1.1.0") {
			t.Errorf("%s events %+v, want hold@1.0.0 replaced by hold@1.1.0", runtime.EventPluginUnloaded, un)
		}
	})
	if got := e.servedBy("/t/hold/ok"); got != "hold@1.1.0" {
		t.Errorf("a new call was served by %s, want hold@1.1.0", got)
	}
	select {
	case r := <-held:
		t.Fatalf("the held call answered %d %s before its release", r.status, r.body)
	default:
	}
	if n := runtime.DrainingProcessors(e.rt); n != 1 {
		t.Errorf("%d versions draining while the old one runs a call, want 1", n)
	}

	e.release("k")
	r := <-held
	if r.status != http.StatusOK || string(r.body) != "released k" || r.header.Get(runtime.HeaderPlugin) != "hold@1.0.0" {
		t.Errorf("the call in flight got %d %q from %q; want 200 from hold@1.0.0", r.status, r.body, r.header.Get(runtime.HeaderPlugin))
	}
	e.settled()
	e.run(t, "metrics carry the digest, and the old version's go with it", func(t *testing.T, e *env) {
		if _, n := e.metric("neuron_requests_total", "plugin", "hold", "digest", v1.digest12); n != 0 {
			t.Errorf("%d neuron_requests_total series of the closed build %s", n, v1.digest12)
		}
		if v := e.mustMetric("neuron_requests_total", "plugin", "hold", "version", "1.1.0", "digest", v2.digest12); v != 1 {
			t.Errorf("neuron_requests_total of the new build = %v, want 1", v)
		}
		e.mustMetric("neuron_pool_instances", "plugin", "hold", "digest", v2.digest12)
	})
}

// A new file that fails any step leaves the version it would replace
// serving, unchanged and without a failed request, and is reported once
// with its reason; putting the good file back changes nothing.
func TestSync_RejectedFileKeepsServing(t *testing.T) {
	echo := guest(t, "echo")
	e := startEnv(t, runtime.Options{}, map[string][]byte{"svc.wasm": echo})
	before := e.processor("echo")
	workers := e.workerIDs("")

	var failures atomic.Int64
	var served atomic.Int64
	stop := make(chan struct{})
	var load sync.WaitGroup
	for range 4 {
		load.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := e.send(context.Background(), "GET", "/t/echo/x", nil)
				if err != nil || r.status != http.StatusOK || r.header.Get(runtime.HeaderPlugin) != "echo@1.0.0" {
					failures.Add(1)
				}
				served.Add(1)
			}
		})
	}
	defer func() {
		close(stop)
		load.Wait()
		if n := failures.Load(); n != 0 {
			t.Errorf("%d of %d requests failed while bad files were rejected", n, served.Load())
		}
	}()

	tests := []struct {
		name   string
		files  map[string][]byte
		undo   func(e *env)
		reason []string
		kept   bool // the rejected file replaced echo's, which keeps serving
	}{
		{name: "not a module", files: map[string][]byte{"svc.wasm": []byte("#!/bin/sh\n")},
			reason: []string{"not a WebAssembly module"}, kept: true},
		{name: "half written", files: map[string][]byte{"svc.wasm": echo[:64<<10]},
			reason: []string{"malformed module", "is the file complete?"}, kept: true},
		{name: "self-test fails", files: map[string][]byte{"svc.wasm": guest(t, "selftestfail")},
			reason: []string{"self-test failed", "database unreachable"}, kept: true},
		{name: "initialization traps", files: map[string][]byte{"svc.wasm": guest(t, "initfail")},
			reason: []string{"initialize", "panic: initfail: deliberate panic in init"}, kept: true},
		{name: "routes of the serving processor", files: map[string][]byte{"a-first.wasm": guest(t, "dupe")},
			undo:   func(e *env) { e.remove("a-first.wasm") },
			reason: []string{"GET /t/echo/{id} is already served by echo@1.0.0", "processor dupe@1.0.0"}},
	}
	for _, tc := range tests {
		e.run(t, tc.name, func(t *testing.T, e *env) {
			rejected := len(e.events.ofType(runtime.EventPluginRejected))
			e.put(tc.files)
			ch := e.sync()
			if len(ch.Rejected) != 1 || len(ch.Loaded)+len(ch.Swapped)+len(ch.Unloaded) != 0 {
				t.Fatalf("Sync = %s, want one rejection and nothing else", summary(ch))
			}
			for _, want := range tc.reason {
				if !strings.Contains(ch.Rejected[0].Reason, want) {
					t.Errorf("reason %q does not contain %q", ch.Rejected[0].Reason, want)
				}
			}
			ev := e.events.ofType(runtime.EventPluginRejected)
			if len(ev) != rejected+1 {
				t.Fatalf("%d new %s events, want 1", len(ev)-rejected, runtime.EventPluginRejected)
			}
			if d := eventData(t, ev[len(ev)-1]); d["reason"] != ch.Rejected[0].Reason || tc.kept != (d["kept"] == "echo@1.0.0") {
				t.Errorf("event data %v; want the reason, and kept echo@1.0.0: %v", d, tc.kept)
			}
			if p := e.processor("echo"); p.Digest != before.Digest || !p.Serving {
				t.Errorf("echo is %s, want the same build serving", describe(p))
			}
			if ch := e.sync(); !ch.Empty() {
				t.Errorf("a second Sync of the same bad file = %s, want nothing: it was reported once", summary(ch))
			}
			if tc.undo != nil {
				tc.undo(e)
			} else {
				e.put(map[string][]byte{"svc.wasm": echo})
			}
			if ch := e.sync(); !ch.Empty() {
				t.Errorf("Sync after the good file came back = %s, want nothing", summary(ch))
			}
			if got := e.workerIDs(""); !slices.Contains(got, workers[0]) { // the load may have grown the pool
				t.Errorf("workers %v, want the same processor, whose first instance is %s", got, workers[0])
			}
		})
	}
	testutil.Eventually(t, waitLimit, "requests to be served meanwhile", func() bool { return served.Load() > 0 })
	e.settled()
}

// Removing a file unloads its processor: new calls get 404 at once, the
// call in flight finishes with 200, then the version closes and its file
// is archived.
func TestSync_RemovedFileDrainsThenUnloads(t *testing.T) {
	data := t.TempDir()
	e := startEnv(t, runtime.Options{DataDir: data}, guests(t, "echo", "hold"))
	held := e.hold("k")
	testutil.Eventually(t, waitLimit, "the held call", func() bool { return e.rt.InFlight() == 1 })
	e.remove("hold.wasm")
	ch := e.sync()
	if !slices.Equal(ids(ch.Unloaded), []string{"hold@1.0.0"}) || len(ch.Loaded)+len(ch.Swapped)+len(ch.Rejected) != 0 {
		t.Fatalf("Sync = %s, want hold@1.0.0 unloaded", summary(ch))
	}
	if ev := e.events.ofType(runtime.EventPluginUnloaded); len(ev) != 1 || !strings.Contains(eventData(t, ev[0])["reason"], "hold.wasm removed") {
		t.Errorf("%s events %+v, want one for the removed file", runtime.EventPluginUnloaded, ev)
	}
	if r := e.get("/t/hold/ok"); r.status != http.StatusNotFound {
		t.Errorf("a new call to the unloaded processor: %d %s, want 404", r.status, r.body)
	}
	if n := runtime.DrainingProcessors(e.rt); n != 1 {
		t.Errorf("%d versions draining during the held call, want 1", n)
	}
	e.release("k")
	if r := <-held; r.status != http.StatusOK || r.header.Get(runtime.HeaderPlugin) != "hold@1.0.0" {
		t.Errorf("the call in flight got %d %s, want 200 from hold@1.0.0", r.status, r.body)
	}
	e.settled()
	want := guest(t, "hold")
	got, err := os.ReadFile(filepath.Join(data, "archive", "hold", "1.0.0-"+digest12(want)+".wasm"))
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("archived file: %d bytes, %v; want the module", len(got), err)
	}
}

// A call that outlives Options.DrainTimeout on a version that left is
// interrupted and answered 503 unloaded, and the version closes.
func TestSync_DrainTimeoutInterrupts(t *testing.T) {
	e := startEnv(t, runtime.Options{DrainTimeout: 50 * time.Millisecond, MaxLimits: runtime.Limits{CallTimeout: time.Hour},
		PluginLimits: map[string]runtime.Limits{"loop": {CallTimeout: time.Hour}}}, guests(t, "loop", "echo"))
	spin := spinning(t, e)
	e.remove("loop.wasm")
	e.sync()
	r := <-spin
	if r.status != http.StatusServiceUnavailable || r.apiError(t).Code != runtime.CodeUnloaded || r.header.Get("Retry-After") == "" {
		t.Errorf("the spinning call got %d %s (Retry-After %q), want 503 %s with Retry-After",
			r.status, r.body, r.header.Get("Retry-After"), runtime.CodeUnloaded)
	}
	e.settled()
	if got := e.servedBy("/t/echo/1"); got != "echo@1.0.0" {
		t.Errorf("echo served by %s", got)
	}
}

// A rebuild of the same version swaps like any change, and continues the
// version's traffic counters, which are keyed by name and version.
func TestSync_SameVersionRebuild(t *testing.T) {
	e := startEnv(t, runtime.Options{}, guests(t, "echo"))
	for range 3 {
		e.get("/t/echo/1")
	}
	e.put(map[string][]byte{"echo.wasm": retag(guest(t, "echo"), "rebuild")})
	ch := e.sync()
	if !slices.Equal(ids(ch.Swapped), []string{"echo@1.0.0"}) || !slices.Equal(ids(ch.Unloaded), []string{"echo@1.0.0"}) {
		t.Fatalf("Sync = %s, want echo@1.0.0 swapped for its rebuild", summary(ch))
	}
	if ch.Swapped[0].Digest == ch.Unloaded[0].Digest {
		t.Errorf("the rebuild has the old digest %s", ch.Swapped[0].Digest)
	}
	e.get("/t/echo/1")
	for _, tr := range e.rt.Traffic() {
		if tr.Plugin == "echo" && tr.Requests != 4 {
			t.Errorf("echo traffic %+v after 3 + 1 requests across the rebuild, want 4", tr)
		}
	}
	e.settled()
}

// Hundreds of Syncs, dozens of them swapping, leave no goroutine and no
// wazero runtime behind.
func TestSync_NoLeaks(t *testing.T) {
	builds := [][]byte{retag(guest(t, "echo"), "a"), retag(guest(t, "echo"), "b")}
	e := startEnv(t, runtime.Options{}, map[string][]byte{"echo.wasm": builds[0]})
	e.get("/t/echo/1")
	e.client.CloseIdleConnections()
	before := goroutines()
	const syncs, every = 300, 20
	for i := range syncs {
		if i%every == 0 {
			e.put(map[string][]byte{"echo.wasm": builds[(i/every+1)%2]})
		}
		if _, err := e.rt.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	e.settled()
	testutil.Eventually(t, waitLimit, "goroutines back to their baseline", func() bool { return goroutines() <= before })
	if got := e.servedBy("/t/echo/1"); got != "echo@1.0.0" {
		t.Errorf("served by %s", got)
	}
	if swaps := len(e.events.ofType(runtime.EventPluginSwapped)); swaps != syncs/every {
		t.Errorf("%d swaps, want %d", swaps, syncs/every)
	}
}
