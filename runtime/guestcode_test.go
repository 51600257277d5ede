package runtime_test

import (
	"context"
	"maps"
	"net/http"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// A start function that never returns is stopped at the start timeout,
// whether the interrupt instrumentation moved it to an export the host
// calls (startloop) or wazero runs it while instantiating a module the
// instrumentation does not walk (startloopsimd), and whether it spins or
// sleeps (startsleepsimd): each file is rejected with the reason, the
// processor next to them serves, and Inspect (neuron plugin validate)
// returns the same reason. Before, the start function ran inside
// instantiation with no limit, and the load never returned.
func TestLoadDir_StartFunctionLoops(t *testing.T) {
	loopers := []string{"startloop", "startloopsimd", "startsleepsimd"}
	files := guests(t, "echo")
	for _, name := range loopers {
		maps.Copy(files, watModule(name)(t))
	}
	const reason = "start function: stopped at its time limit after 5s; raise limits.startTimeout"
	e := startEnv(t, runtime.Options{}, files)
	refused := map[string]string{}
	for _, ev := range e.events.ofType(runtime.EventPluginRejected) {
		d := eventData(t, ev)
		refused[d["file"]] = d["reason"]
	}
	for _, name := range loopers {
		if got := refused[name+".wasm"]; !strings.Contains(got, reason) {
			t.Errorf("%s.wasm: rejected with %q, want a reason containing %q", name, got, reason)
		}
	}
	if r := e.get("/t/echo/1"); r.status != http.StatusOK {
		t.Errorf("echo next to them: status %d", r.status)
	}
	for _, name := range loopers {
		t.Run("inspect "+name, func(t *testing.T) {
			t.Parallel()
			in, err := runtime.Inspect(context.Background(), filepath.Join(e.dir, name+".wasm"), runtime.Options{CacheDir: cacheDir})
			if err == nil || !strings.Contains(err.Error(), reason) {
				t.Errorf("Inspect = %+v, %v; want an error containing %q", in, err, reason)
			}
		})
	}
}

// A valid processor that spins in a loop calling nothing, writing globals
// 0 and 1 of its own as stealglobals.wasm (see TestLoadDir_RefusesBadModules)
// would write the host's, is stopped by its call timeout: the host's flag
// and tick are out of its reach. While it spins, a garbage collection
// completes and the processor next to it answers.
func TestSpinningGuestWritingItsGlobals(t *testing.T) {
	files := guests(t, "echo")
	maps.Copy(files, watModule("spin")(t))
	e := startEnv(t, runtime.Options{PluginLimits: map[string]runtime.Limits{
		"spin": {PoolMin: 1, PoolMax: 1, CallTimeout: time.Second},
	}}, files)
	if in, err := runtime.Inspect(context.Background(), filepath.Join(e.dir, "spin.wasm"), runtime.Options{CacheDir: cacheDir}); err != nil || !in.Interruptible {
		t.Fatalf("Inspect: %v; interruptible %v: the test needs spin.wasm instrumented", err, in != nil && in.Interruptible)
	}
	done := make(chan reply, 1)
	go func() {
		r, err := e.send(context.Background(), "GET", "/t/spin/ok", nil)
		if err != nil {
			t.Errorf("GET /t/spin/ok: %v", err)
		}
		done <- r
	}()
	testutil.Eventually(t, waitLimit, "the spin to hold the instance", func() bool { return e.processor("spin").Pool.Busy == 1 })
	goruntime.GC() // stops the world while the guest spins
	if r := e.get("/t/echo/1"); r.status != http.StatusOK {
		t.Errorf("echo while spin spins: status %d", r.status)
	}
	r := <-done
	if r.status != http.StatusGatewayTimeout || r.apiError(t).Code != runtime.CodeTimeout {
		t.Errorf("GET /t/spin/ok: %d %s; want 504 %s", r.status, r.body, runtime.CodeTimeout)
	}
}
