package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/empirefederation/neuron/federation/fedtest"
	"github.com/empirefederation/neuron/internal/testutil"
)

// stormBatch is a batch the two data processor versions answer
// differently: 1.0.0 finds duplicates by id only (none here), 1.1.0 also
// by email after trimming and lower-casing (c2 is c1's).
const stormBatch = `{"batchId": "storm", "records": [
  {"id": "c1", "email": "ada@example.com", "name": "Ada"},
  {"id": "c2", "email": "ADA@example.com "},
  {"id": "c3", "email": "not-an-email"}]}`

// stormAnswers is what each version answers to stormBatch:
// recordsProcessed and duplicatesFound.
var stormAnswers = map[string][2]int{"1.0.0": {2, 0}, "1.1.0": {1, 1}}

// heapSlack is how much HeapInuse may exceed the baseline after the storm.
// The pool is fixed at 2 instances and the baseline is taken after a warm-
// up cycle, so what is kept on purpose is in both; one leaked version of
// the data processor keeps at least one instance's linear memory (over
// 10 MiB for this Go guest), so leaking one version in four over the
// storm's swaps exceeds it. It absorbs what the Go heap keeps between GCs
// (HTTP buffers, the log this test keeps): measured +26 to +30 MiB after
// 48 swaps and after 144 alike, so not growing with the swaps.
const heapSlack = 48 << 20

// goroutineSlack is how many more goroutines than at the baseline may
// remain: one more keep-alive connection between the agent and the
// federation (its client's read and write loops and the server's
// connection) than at the baseline. A leak per swap exceeds it.
const goroutineSlack = 3

// TestAgent_SwapStorm swaps the data processor between 1.0.0 and 1.1.0 at
// least 50 times on a running neuron, by file drops the watcher picks up
// and by rollback_plugin, reload_plugin and load_plugin commands, while
// several clients call it without pause. No call may fail, each answer
// must come whole from the version its X-Neuron-Plugin header names, and
// afterwards the neuron must hold what it held before: goroutines, heap
// (within heapSlack), one wazero runtime per loaded version, no version
// left draining.
func TestAgent_SwapStorm(t *testing.T) {
	fed := fedtest.New(t)
	plugins := pluginsDir(t, map[string]string{"dp.wasm": "examples/dataprocessor/v1.0.0"})
	builds := map[string][]byte{}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		b, err := os.ReadFile(testutil.BuildWasm(t, "examples/dataprocessor/v"+v))
		if err != nil {
			t.Fatal(err)
		}
		builds[v] = b
		stage := filepath.Join(plugins, "staging", v)
		if err := os.MkdirAll(stage, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(stage, "dp.wasm"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A fixed pool, so that the heap holds as many instances (each with
	// its linear memory) after the storm as at the baseline.
	n := start(t, "--config", federationConfig(t, fed, plugins, dataDir(t),
		"pluginsWatchQuiet: 20ms\npluginLimits:\n  data-processor: {poolMin: 2, poolMax: 2}\n"))
	testutil.Eventually(t, waitLimit, "registration (its first heartbeat: the neuron holds its token)", func() bool { return len(fed.Heartbeats()) > 0 })
	n.do(t, "GET", "/status", "").wantPlugin(t, "at start", "data-processor@1.0.0")

	// The swaps: a cycle of six, each one replacing the processor that
	// serves (a reload with a fresh open of the same file). A command
	// may find its change already made by the watcher, which saw the
	// file it placed; either way the swap happened.
	swaps := 0
	serving := func() string {
		return n.do(t, "GET", "/status", "").header.Get("X-Neuron-Plugin")
	}
	dropVersion := func(v string) {
		t.Helper()
		dropBytes(t, plugins, "dp.wasm", builds[v])
		testutil.Eventually(t, waitLimit, "the dropped "+v+" serving", func() bool { return serving() == "data-processor@"+v })
		swaps++
	}
	command := func(id, typ, data, want string) {
		t.Helper()
		if o := n.command(t, fed, id, typ, data); !o.OK {
			t.Fatalf("%s %s: %+v", typ, data, o)
		}
		if got := serving(); got != "data-processor@"+want {
			t.Fatalf("after %s %s serving %s, want %s", typ, data, got, want)
		}
		swaps++
	}
	cycle := func(i int) {
		t.Helper()
		dropVersion("1.1.0")
		command(fmt.Sprintf("rb-%d", i), "rollback_plugin", `{"plugin": "data-processor"}`, "1.0.0")
		command(fmt.Sprintf("re-%d", i), "reload_plugin", `{"plugin": "data-processor"}`, "1.0.0")
		command(fmt.Sprintf("l10-%d", i), "load_plugin", fmt.Sprintf(`{"path": "staging/1.0.0/dp.wasm", "sha256": %q}`, sha(builds["1.0.0"])), "1.0.0")
		command(fmt.Sprintf("l11-%d", i), "load_plugin", fmt.Sprintf(`{"path": "staging/1.1.0/dp.wasm", "sha256": %q}`, sha(builds["1.1.0"])), "1.1.0")
		dropVersion("1.0.0")
	}

	// A first cycle under load warms what is kept on purpose (both
	// versions compiled and instrumented, the archive, connection
	// buffers); the baseline is taken after it, with no load.
	c := startStormClients(n)
	cycle(0)
	c.stop(t)
	baseG, baseHeap := settle(n)
	t.Logf("baseline after %d swaps: %d goroutines, HeapInuse %d MiB, %+v", swaps, baseG, baseHeap>>20, n.a.Runtime().Resources())

	c = startStormClients(n)
	for i := 1; swaps < 50; i++ {
		cycle(i)
	}
	c.stop(t)
	t.Logf("%d swaps in all", swaps)

	rt := n.a.Runtime()
	testutil.Eventually(t, waitLimit, "replaced versions closed", func() bool {
		r := rt.Resources()
		return r.Draining == 0 && r.WazeroRuntimes == r.Loaded
	})
	if r := rt.Resources(); r.Loaded != 1 || r.Instances != 2 || len(rt.Workers()) != 2 {
		t.Errorf("after the storm %+v with %d workers listed; want the one version loaded with its 2 instances", r, len(rt.Workers()))
	}
	var g int
	var heap uint64
	var dumped atomic.Bool
	testutil.Eventually(t, waitLimit, "goroutines and heap back to the baseline", func() bool {
		g, heap = settle(n)
		if g > baseG+goroutineSlack || heap > baseHeap+heapSlack {
			t.Logf("not yet: %d goroutines (baseline %d), HeapInuse %d MiB (baseline %d)", g, baseG, heap>>20, baseHeap>>20)
			if dumped.CompareAndSwap(false, true) {
				var b strings.Builder
				_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
				t.Logf("goroutines:\n%s", b.String())
			}
			return false
		}
		return true
	})
	t.Logf("after: %d goroutines, HeapInuse %d MiB, %+v", g, heap>>20, rt.Resources())
}

// settle closes the client's idle connections, collects garbage and
// returns the goroutine count and the heap in use.
func settle(n *neuron) (int, uint64) {
	n.client.CloseIdleConnections()
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return goruntime.NumGoroutine(), ms.HeapInuse
}

// checkStormReply checks one answer of the storm: status 200 and a body
// from the version the X-Neuron-Plugin header names. It returns that
// version, or what is wrong.
func checkStormReply(path string, r reply) (version, problem string) {
	if r.status != http.StatusOK {
		return "", fmt.Sprintf("status %d body %.300s", r.status, r.body)
	}
	hdr := r.header.Get("X-Neuron-Plugin")
	var body struct {
		Version          string `json:"version"`
		RecordsProcessed int    `json:"recordsProcessed"`
		DuplicatesFound  int    `json:"duplicatesFound"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		return "", fmt.Sprintf("body %.300q: %v", r.body, err)
	}
	want, known := stormAnswers[body.Version]
	switch {
	case !known:
		return "", fmt.Sprintf("body names version %q: %.300s", body.Version, r.body)
	case hdr != "data-processor@"+body.Version:
		return "", fmt.Sprintf("X-Neuron-Plugin %q but the body is from %s", hdr, body.Version)
	case path == "/process" && [2]int{body.RecordsProcessed, body.DuplicatesFound} != want:
		return "", fmt.Sprintf("version %s answered recordsProcessed %d, duplicatesFound %d; it answers %v", body.Version, body.RecordsProcessed, body.DuplicatesFound, want)
	}
	return body.Version, ""
}

// dropBytes moves b into dir as name the way a deployment should: written
// under a hidden name, then renamed over the file.
func dropBytes(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// stormClients call the neuron without pause from several goroutines,
// alternating POST /process with stormBatch and GET /status, and check
// every answer with checkStormReply.
type stormClients struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	calls    atomic.Int64
	mu       sync.Mutex
	failures []string
	seen     map[string]int // answers by version
	// answers counts every answer received, whatever its status, by what
	// served it; unclaimedOK takes a 404 that no processor served (none
	// loaded) for an answer, not a failure.
	answers     map[servedBy]int64
	unclaimedOK bool
}

// servedBy is what served an answer: its X-Neuron-Plugin and
// X-Neuron-Variant headers, both "" when no processor did.
type servedBy struct{ plugin, variant string }

// stormClientCount is how many clients call at once; with the test's own
// GET /status polls they are more than the pool's 2 instances, so calls
// queue while versions change. More only slow the swaps on 2 cores.
const stormClientCount = 2

func startStormClients(n *neuron) *stormClients {
	return startClients(n, false)
}

// startClients starts the storm's clients; see stormClients.unclaimedOK.
func startClients(n *neuron, unclaimedOK bool) *stormClients {
	ctx, cancel := context.WithCancel(context.Background())
	c := &stormClients{cancel: cancel, seen: map[string]int{}, answers: map[servedBy]int64{}, unclaimedOK: unclaimedOK}
	for id := range stormClientCount {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				method, path, body := "POST", "/process", stormBatch
				if (i+id)%2 == 1 {
					method, path, body = "GET", "/status", ""
				}
				r, err := n.send(context.Background(), method, path, body)
				c.calls.Add(1)
				v, problem := "", ""
				by := servedBy{r.header.Get("X-Neuron-Plugin"), r.header.Get("X-Neuron-Variant")}
				switch {
				case err != nil:
					problem = err.Error()
				case c.unclaimedOK && r.status == http.StatusNotFound && by.plugin == "":
				default:
					v, problem = checkStormReply(path, r)
				}
				c.mu.Lock()
				if err == nil {
					c.answers[by]++
				}
				if problem != "" && len(c.failures) < 20 {
					c.failures = append(c.failures, method+" "+path+": "+problem)
				} else if problem == "" && v != "" {
					c.seen[v]++
				}
				c.mu.Unlock()
			}
		}()
	}
	return c
}

// count returns how many answers served matched, so far.
func (c *stormClients) count(match func(servedBy) bool) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for by, k := range c.answers {
		if match(by) {
			n += k
		}
	}
	return n
}

// stop ends the calls, waits for the last answers, and fails the test
// for every failed call and when the clients did not see both versions.
func (c *stormClients) stop(t *testing.T) {
	t.Helper()
	c.cancel()
	c.wg.Wait()
	t.Logf("%d calls, answers by version %v", c.calls.Load(), c.seen)
	for _, f := range c.failures {
		t.Error(f)
	}
	if c.seen["1.0.0"] == 0 || c.seen["1.1.0"] == 0 {
		t.Errorf("answers by version %v: the clients did not see both versions, so the storm proved nothing", c.seen)
	}
}
