package runtime_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// spinning starts GET /t/loop/spin and returns once the call holds its
// instance; the channel gets the answer.
func spinning(t *testing.T, e *env) <-chan reply {
	t.Helper()
	ch := make(chan reply, 1)
	go func() {
		r, err := e.send(context.Background(), "GET", "/t/loop/spin", nil)
		if err != nil {
			r.status, r.body = -1, []byte(err.Error())
		}
		ch <- r
	}()
	testutil.Eventually(t, waitLimit, "the spin to hold an instance", func() bool { return e.processor("loop").Pool.Busy == 1 })
	return ch
}

func TestClose_WaitsForCallInFlight(t *testing.T) {
	const callTimeout = time.Second
	e := startEnv(t, runtime.Options{PluginLimits: map[string]runtime.Limits{"loop": {CallTimeout: callTimeout}}},
		guests(t, "echo", "loop"))
	spin := spinning(t, e)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.rt.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The spin began before start and ends at its deadline; Close must
	// have waited for most of it.
	if took := time.Since(start); took < callTimeout/2 {
		t.Errorf("Close returned after %v, before the call in flight could end", took)
	}
	r := <-spin
	if r.status != http.StatusGatewayTimeout || r.apiError(t).Code != runtime.CodeTimeout {
		t.Errorf("the call in flight got %d %s; want its own 504 timeout", r.status, r.body)
	}

	e.run(t, "idempotent", func(t *testing.T, e *env) {
		if err := e.rt.Close(context.Background()); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
	e.run(t, "state", func(t *testing.T, e *env) {
		if e.rt.Ready() || len(e.rt.Processors()) != 0 || len(e.rt.Endpoints()) != 0 {
			t.Errorf("after Close: Ready %v, %d processors, %d endpoints", e.rt.Ready(), len(e.rt.Processors()), len(e.rt.Endpoints()))
		}
		if err := e.rt.LoadDir(context.Background()); err == nil || !strings.Contains(err.Error(), "runtime closed") {
			t.Errorf("LoadDir after Close: %v, want runtime closed", err)
		}
	})
	e.run(t, "requests", func(t *testing.T, e *env) {
		for _, path := range []string{"/t/echo/1", "/t/loop/ok"} {
			r := e.get(path)
			if r.status != http.StatusNotFound || r.apiError(t).Code != runtime.CodeNotFound {
				t.Errorf("GET %s after Close: %d %s; want 404 not_found", path, r.status, r.body)
			}
		}
		if r := e.get("/ready"); r.status != http.StatusServiceUnavailable {
			t.Errorf("/ready after Close: %d", r.status)
		}
		if r := e.get("/metrics"); r.status != http.StatusOK {
			t.Errorf("/metrics after Close: %d", r.status)
		}
	})
}

// Close under a context that has already ended does not wait for the call
// in flight to finish: it interrupts it (503 unloaded), reports the busy
// instance, and closes the processor's code only once the guest has
// stopped. The spin writes its memory all the while: closing the code
// under it would unmap that memory and crash the process.
func TestClose_ContextDone(t *testing.T) {
	const callTimeout = time.Minute
	e := startEnv(t, runtime.Options{PluginLimits: map[string]runtime.Limits{"loop": {CallTimeout: callTimeout}}},
		guests(t, "loop"))
	spin := spinning(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	err := e.rt.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "loop@1.0.0") || !strings.Contains(err.Error(), "1 instances still busy") {
		t.Errorf("Close with a done context: %v; want the busy instance of loop@1.0.0 reported", err)
	}
	if took := time.Since(start); took > callTimeout/2 {
		t.Errorf("Close took %v: it waited for the call's deadline", took)
	}
	r := <-spin
	if r.status != http.StatusServiceUnavailable || r.apiError(t).Code != runtime.CodeUnloaded {
		t.Errorf("the call in flight got %d %s; want 503 unloaded", r.status, r.body)
	}
	if res := e.rt.Resources(); res.WazeroRuntimes != 0 || res.Instances != 0 {
		t.Errorf("after Close: %+v; want no wazero runtime or instance left", res)
	}
	if err := e.rt.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Requests racing Close are answered, never dropped or panicking: by the
// processor, with 503 unavailable when its pool closed under them, or with
// 404 once the runtime serves nothing.
func TestClose_UnderLoad(t *testing.T) {
	e := startEnv(t, runtime.Options{Limits: runtime.Limits{PoolMax: 2}}, guests(t, "echo"))
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int]int{}
	for range 8 {
		wg.Go(func() {
			for {
				r, err := e.send(context.Background(), "POST", "/t/echo/1", strings.NewReader("body"))
				if err != nil {
					t.Errorf("request failed: %v", err)
					return
				}
				ok := r.status == http.StatusOK ||
					r.status == http.StatusServiceUnavailable && strings.Contains(string(r.body), runtime.CodeUnavailable) ||
					r.status == http.StatusNotFound && strings.Contains(string(r.body), runtime.CodeNotFound)
				if !ok {
					t.Errorf("answer %d %s", r.status, r.body)
				}
				mu.Lock()
				seen[r.status]++
				mu.Unlock()
				if r.status == http.StatusNotFound {
					return
				}
			}
		})
	}
	testutil.Eventually(t, waitLimit, "some requests served", func() bool { mu.Lock(); defer mu.Unlock(); return seen[http.StatusOK] >= 16 })
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := e.rt.Close(ctx); err != nil {
		t.Errorf("Close under load: %v", err)
	}
	wg.Wait() // each client stops at its first 404
	t.Logf("answers by status: %v", seen)
}
