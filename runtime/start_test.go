package runtime_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// A file whose _initialize never returns is stopped at limits.startTimeout
// and refused with a reason saying which limit stopped it; the file next
// to it serves.
func TestSync_StartTimeoutRefuses(t *testing.T) {
	files := watPlugin(t, "healthy", "ok", "", "handle")
	maps.Copy(files, watPlugin(t, "spin", "slowinit", "", "handle"))
	e := startEnv(t, runtime.Options{Limits: runtime.Limits{StartTimeout: time.Second}}, files)
	if r := e.get("/w/healthy/handle"); r.status != http.StatusOK {
		t.Errorf("healthy: status %d, want 200", r.status)
	}
	rejected := e.events.ofType(runtime.EventPluginRejected)
	if len(rejected) != 1 {
		t.Fatalf("%d rejections, want spin's", len(rejected))
	}
	d := eventData(t, rejected[0])
	if want := "stopped at its time limit after 1s; raise limits.startTimeout"; d["file"] != "spin.wasm" || !strings.Contains(d["reason"], want) {
		t.Errorf("rejected %v, want spin.wasm: ...%s", d, want)
	}
}

// The files of one sync start concurrently: two whose _initialize spins
// run at the same time, neither waiting for the other's start timeout.
// Close interrupts them at once, however long their start timeout (here
// 10 minutes), and the sync changes nothing.
func TestSync_StartsConcurrentlyAndCloseInterrupts(t *testing.T) {
	files := watPlugin(t, "healthy", "ok", "", "handle")
	maps.Copy(files, watPlugin(t, "spin1", "slowinit", "", "handle"))
	maps.Copy(files, watPlugin(t, "spin2", "slowinit", "", "handle"))
	const long = 10 * time.Minute
	e := newEnv(t, runtime.Options{Limits: runtime.Limits{StartTimeout: long}, MaxLimits: runtime.Limits{StartTimeout: long}}, files)
	synced := make(chan error, 1)
	go func() {
		_, err := e.rt.Sync(context.Background())
		synced <- err
	}()
	spinning := func(file string) bool { return len(e.logs.find("init looping", "file", file)) > 0 }
	testutil.Eventually(t, waitLimit, "both spinning files to start", func() bool {
		return spinning("spin1.wasm") && spinning("spin2.wasm")
	})
	if n := len(e.events.ofType(runtime.EventPluginRejected)); n != 0 {
		t.Errorf("%d files rejected while both spin: they started one after the other", n)
	}

	closed := make(chan error, 1)
	go func() { closed <- e.rt.Close(context.Background()) }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatalf("Close still waits for the sync %v later", waitLimit)
	}
	select {
	case err := <-synced:
		if err == nil || !strings.Contains(err.Error(), "runtime closed") {
			t.Errorf("Sync: %v, want runtime closed", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Sync did not return")
	}
	if n := len(e.events.ofType(runtime.EventPluginRejected)); n != 0 {
		t.Errorf("%d files rejected by an interrupted sync, want none", n)
	}
	if ps := e.rt.Processors(); len(ps) != 0 {
		t.Errorf("processors %v after the interrupted sync, want none", ps)
	}
}

// A sync whose context ends stops the guest code it runs, changes nothing
// and remembers no rejection: the next sync opens the files again.
func TestSync_CanceledChangesNothing(t *testing.T) {
	files := watPlugin(t, "healthy", "ok", "", "handle")
	maps.Copy(files, watPlugin(t, "spin", "slowinit", "", "handle"))
	e := newEnv(t, runtime.Options{Limits: runtime.Limits{StartTimeout: time.Minute}}, files)
	ctx, cancel := context.WithCancel(context.Background())
	synced := make(chan error, 1)
	go func() {
		_, err := e.rt.Sync(ctx)
		synced <- err
	}()
	testutil.Eventually(t, waitLimit, "spin to start", func() bool { return len(e.logs.find("init looping", "file", "spin.wasm")) > 0 })
	cancel()
	select {
	case err := <-synced:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Sync: %v, want context.Canceled", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Sync did not return after its context ended")
	}
	if ps := e.rt.Processors(); len(ps) != 0 || len(e.events.ofType(runtime.EventPluginRejected)) != 0 {
		t.Errorf("processors %v, rejections %d after a canceled sync, want none", ps, len(e.events.ofType(runtime.EventPluginRejected)))
	}
	// Not remembered as rejected: a later sync tries spin again.
	before := len(e.logs.find("init looping", "file", "spin.wasm"))
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, err := e.rt.Sync(ctx)
		synced <- err
	}()
	testutil.Eventually(t, waitLimit, "spin to start again", func() bool { return len(e.logs.find("init looping", "file", "spin.wasm")) > before })
	cancel()
	<-synced
}

// Inspect (neuron plugin validate and inspect) stops a module's guest
// code when its context ends: a signal ends the command.
func TestInspect_Canceled(t *testing.T) {
	dir := t.TempDir()
	for name, b := range watPlugin(t, "spin", "slowinit", "", "handle") {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "spin.wasm")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() {
		_, err := runtime.Inspect(ctx, path, runtime.Options{CacheDir: cacheDir})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Inspect: %v, want context.Canceled", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Inspect did not return after its context ended")
	}
}
