package runtime_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// workerIDs returns the ids of the live workers of plugin ("" for all).
func (e *env) workerIDs(plugin string) []string {
	var ids []string
	for _, w := range e.rt.Workers() {
		if plugin == "" || w.Plugin == plugin {
			ids = append(ids, w.ID)
		}
	}
	return ids
}

// worker returns the live worker id, and whether there is one.
func (e *env) worker(id string) (runtime.WorkerInfo, bool) {
	for _, w := range e.rt.Workers() {
		if w.ID == id {
			return w, true
		}
	}
	return runtime.WorkerInfo{}, false
}

// busyWorker waits for plugin to have a busy worker and returns it.
func (e *env) busyWorker(t *testing.T, plugin string) runtime.WorkerInfo {
	t.Helper()
	var busy runtime.WorkerInfo
	testutil.Eventually(t, waitLimit, "a busy "+plugin+" worker", func() bool {
		for _, w := range e.rt.Workers() {
			if w.Plugin == plugin && w.Busy {
				busy = w
				return true
			}
		}
		return false
	})
	return busy
}

func TestWorkers(t *testing.T) {
	start := time.Now()
	e := startEnv(t, runtime.Options{PluginLimits: map[string]runtime.Limits{"echo": {PoolMin: 2}}}, guests(t, "echo", "loop"))
	got := e.rt.Workers()
	wantIDs := []string{"echo@1.0.0#1", "echo@1.0.0#2", "loop@1.0.0#1"}
	if ids := e.workerIDs(""); !slices.Equal(ids, wantIDs) {
		t.Fatalf("Workers() ids = %v, want %v", ids, wantIDs)
	}
	for _, w := range got {
		if w.Busy || w.Calls != 0 || w.Version != "1.0.0" || !strings.HasPrefix(w.ID, w.Plugin+"@") || w.Started.Before(start) {
			t.Errorf("fresh worker %+v", w)
		}
	}
	for range 3 {
		e.get("/t/echo/1")
	}
	var calls uint64
	for _, w := range e.rt.Workers() {
		calls += w.Calls
	}
	if calls != 3 {
		t.Errorf("Workers() calls sum to %d after 3 requests", calls)
	}
	spin := spinning(t, e)
	if w := e.busyWorker(t, "loop"); w.ID != "loop@1.0.0#1" || w.Calls != 1 {
		t.Errorf("the spinning worker is %+v, want loop@1.0.0#1 with its call counted", w)
	}
	if n, err := e.rt.RestartWorkers(context.Background(), "loop", false); n != 1 || err != nil {
		t.Fatalf("RestartWorkers(loop) = %d, %v", n, err)
	}
	<-spin

	e.run(t, "numbering continues over a reload", func(t *testing.T, e *env) {
		for _, name := range []string{"echo", "loop"} {
			if _, err := e.rt.Reload(context.Background(), name); err != nil {
				t.Fatal(err)
			}
		}
		testutil.Eventually(t, waitLimit, "the reloaded pools", func() bool { return len(e.rt.Workers()) == 3 })
		for _, id := range e.workerIDs("") {
			if slices.Contains(wantIDs, id) {
				t.Errorf("worker id %s reused after a reload (ids now %v)", id, e.workerIDs(""))
			}
		}
	})
}

// TestRestartWorkers_Graceful: with one call held, a graceful restart
// replaces the idle worker at once, lets the held call finish with 200,
// and only then replaces its worker and returns.
func TestRestartWorkers_Graceful(t *testing.T) {
	e := startEnv(t, runtime.Options{PluginLimits: map[string]runtime.Limits{"hold": {PoolMin: 2, PoolMax: 2}}},
		guests(t, "hold", "echo"))
	echoIDs := e.workerIDs("echo")
	held := e.hold("g")
	busy := e.busyWorker(t, "hold")
	var idle string
	for _, id := range e.workerIDs("hold") {
		if id != busy.ID {
			idle = id
		}
	}

	type result struct {
		n   int
		err error
	}
	restarted := make(chan result, 1)
	go func() {
		n, err := e.rt.RestartWorkers(context.Background(), "hold@1.0.0", true)
		restarted <- result{n, err}
	}()
	testutil.Eventually(t, waitLimit, "the idle worker "+idle+" replaced", func() bool {
		_, ok := e.worker(idle)
		return !ok && len(e.workerIDs("hold")) == 2
	})
	if w, ok := e.worker(busy.ID); !ok || !w.Busy {
		t.Fatalf("the busy worker %s is %+v (live %v) while its call is held", busy.ID, w, ok)
	}
	select {
	case r := <-restarted:
		t.Fatalf("RestartWorkers returned %d, %v while a selected call was in flight", r.n, r.err)
	default:
	}

	e.release("g")
	if r := <-held; r.status != http.StatusOK || string(r.body) != "released g" {
		t.Errorf("the held call answered %d %q, want 200 released g", r.status, r.body)
	}
	if r := <-restarted; r.n != 2 || r.err != nil {
		t.Errorf("RestartWorkers = %d, %v; want 2 selected, no error", r.n, r.err)
	}
	if _, ok := e.worker(busy.ID); ok {
		t.Errorf("worker %s still live after the restart returned", busy.ID)
	}
	testutil.Eventually(t, waitLimit, "the pool refilled", func() bool { return len(e.workerIDs("hold")) == 2 })
	for _, id := range e.workerIDs("hold") {
		if id == busy.ID || id == idle {
			t.Errorf("worker %s survived the restart", id)
		}
	}
	if got := e.workerIDs("echo"); !slices.Equal(got, echoIDs) {
		t.Errorf("echo workers went from %v to %v; they were not selected", echoIDs, got)
	}
	if r := e.get("/t/hold/ok"); r.status != http.StatusOK {
		t.Errorf("/t/hold/ok after the restart: %d %s", r.status, r.body)
	}
	if got := e.mustMetric("neuron_pool_instances_retired_total", "plugin", "hold"); got != 2 {
		t.Errorf("neuron_pool_instances_retired_total{hold} = %v, want 2", got)
	}
	if got := e.mustMetric("neuron_pool_instances_discarded_total", "plugin", "hold"); got != 0 {
		t.Errorf("neuron_pool_instances_discarded_total{hold} = %v, want 0: a restart is not a fault", got)
	}
}

// TestRestartWorkers_NotGraceful: a call in flight, spinning in guest code
// or asleep in the host, ends at once with 503 worker_restarted.
func TestRestartWorkers_NotGraceful(t *testing.T) {
	e := startEnv(t, runtime.Options{Limits: runtime.Limits{CallTimeout: time.Minute}}, guests(t, "loop", "hold"))
	tests := []struct {
		name, plugin, path, then string
	}{
		{"spinning in a loop", "loop", "/t/loop/spin", "/t/loop/ok"},
		{"asleep in the host", "hold", "/t/hold/wait/never", "/t/hold/ok"},
	}
	for _, tc := range tests {
		e.run(t, tc.name, func(t *testing.T, e *env) {
			ch := make(chan reply, 1)
			go func() {
				r, err := e.send(context.Background(), "GET", tc.path, nil)
				if err != nil {
					r.status, r.body = -1, []byte(err.Error())
				}
				ch <- r
			}()
			busy := e.busyWorker(t, tc.plugin)
			n, err := e.rt.RestartWorkers(context.Background(), busy.ID, false)
			if n != 1 || err != nil {
				t.Fatalf("RestartWorkers(%s) = %d, %v", busy.ID, n, err)
			}
			if _, ok := e.worker(busy.ID); ok {
				t.Errorf("worker %s live after RestartWorkers returned", busy.ID)
			}
			r := <-ch
			if r.status != http.StatusServiceUnavailable || r.apiError(t).Code != runtime.CodeWorkerRestarted || r.header.Get("Retry-After") == "" {
				t.Errorf("interrupted call: %d %s (Retry-After %q); want 503 %s with Retry-After", r.status, r.body,
					r.header.Get("Retry-After"), runtime.CodeWorkerRestarted)
			}
			if r := e.get(tc.then); r.status != http.StatusOK {
				t.Errorf("%s after the restart: %d %s", tc.then, r.status, r.body)
			}
		})
	}
}

func TestRestartWorkers_Errors(t *testing.T) {
	e := startEnv(t, runtime.Options{}, guests(t, "echo", "loop"))
	tests := []struct{ sel string }{{"nope"}, {"echo@9.9.9"}, {"echo@1.0.0#999"}, {""}, {"ALL"}}
	for _, tc := range tests {
		e.run(t, fmt.Sprintf("%q", tc.sel), func(t *testing.T, e *env) {
			before := e.workerIDs("")
			n, err := e.rt.RestartWorkers(context.Background(), tc.sel, false)
			if err == nil || n != 0 {
				t.Fatalf("RestartWorkers(%q) = %d, %v; want 0 and an error", tc.sel, n, err)
			}
			for _, want := range []string{fmt.Sprintf("unknown selector %q", tc.sel), `"all"`, "echo, loop", "echo@1.0.0, loop@1.0.0",
				"echo@1.0.0#1, loop@1.0.0#1"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not list %s", err, want)
				}
			}
			if after := e.workerIDs(""); !slices.Equal(after, before) {
				t.Errorf("workers went from %v to %v after a refused restart", before, after)
			}
		})
	}

	e.run(t, "context ends while a call is held", func(t *testing.T, e *env) {
		spin := spinning(t, e)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n, err := e.rt.RestartWorkers(ctx, "loop", true)
		if n != 1 || err == nil || !strings.Contains(err.Error(), "1 of 1 selected instances still busy") {
			t.Errorf("RestartWorkers with a done context = %d, %v; want 1 and an error counting the busy one", n, err)
		}
		if _, err := e.rt.RestartWorkers(context.Background(), "loop", false); err != nil {
			t.Fatal(err)
		}
		<-spin
	})
}

// TestRestartWorkers_AllIdle: restarting every worker of idle pools
// replaces every id.
func TestRestartWorkers_AllIdle(t *testing.T) {
	e := startEnv(t, runtime.Options{Limits: runtime.Limits{PoolMin: 2}}, guests(t, "echo", "loop", "trap"))
	before := e.workerIDs("")
	if len(before) != 6 {
		t.Fatalf("workers %v, want 2 per processor", before)
	}
	n, err := e.rt.RestartWorkers(context.Background(), runtime.SelectAllWorkers, true)
	if n != 6 || err != nil {
		t.Fatalf("RestartWorkers(all) = %d, %v; want 6", n, err)
	}
	testutil.Eventually(t, waitLimit, "every pool refilled", func() bool { return len(e.workerIDs("")) == 6 })
	after := e.workerIDs("")
	for _, id := range after {
		if slices.Contains(before, id) {
			t.Errorf("worker %s survived restarting all (before %v, after %v)", id, before, after)
		}
	}
}

// TestRestartWorkers_Hammer restarts every echo worker, gracefully, again
// and again while clients call echo: no call fails, and every restart
// leaves none of the workers it selected.
func TestRestartWorkers_Hammer(t *testing.T) {
	e := startEnv(t, runtime.Options{Limits: runtime.Limits{PoolMin: 2, PoolMax: 4}}, guests(t, "echo"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var clients sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		clients.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 2))
			for i := 0; ctx.Err() == nil; i++ {
				if err := e.echoRoundTrip(rng, fmt.Sprintf("g%d-%d", g, i)); err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
			}
		})
	}
	rounds := 30
	if testing.Short() {
		rounds = 10
	}
	for range rounds {
		before := e.workerIDs("echo")
		if _, err := e.rt.RestartWorkers(context.Background(), "echo", true); err != nil {
			t.Fatal(err)
		}
		for _, id := range e.workerIDs("echo") {
			if slices.Contains(before, id) {
				t.Fatalf("worker %s survived a restart", id)
			}
		}
	}
	cancel()
	clients.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Sequential calls meet the same instance, the one used last: a quiet
// processor keeps its per-instance state from call to call, and its other
// instances stay untouched (the pool hands out the most recently used
// idle instance; see internal/pool).
func TestWorkers_SequentialCallsMeetOneInstance(t *testing.T) {
	e := startEnv(t, runtime.Options{PluginLimits: map[string]runtime.Limits{"echo": {PoolMin: 3}}}, guests(t, "echo"))
	before := map[string]uint64{}
	for _, w := range e.rt.Workers() {
		before[w.ID] = w.Calls
	}
	const calls = 12
	for range calls {
		if r := e.get("/t/echo/1"); r.status != http.StatusOK {
			t.Fatalf("GET /t/echo/1: %d %s", r.status, r.body)
		}
	}
	var took []string
	for _, w := range e.rt.Workers() {
		switch n := w.Calls - before[w.ID]; n {
		case 0:
		case calls:
			took = append(took, w.ID)
		default:
			t.Errorf("instance %s took %d of the %d sequential calls, want all or none", w.ID, n, calls)
		}
	}
	if len(took) != 1 || len(before) != 3 {
		t.Errorf("instances %q took the %d sequential calls among %d, want exactly one", took, calls, len(before))
	}
}
