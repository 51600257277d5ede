package agent_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/devfed"
	"github.com/empirefederation/neuron/internal/testutil"
)

// envFleetCPU turns on TestFleetHeartbeatCPU, a measurement rather than a
// check (it asserts nothing about speed and takes a minute): its value is
// the number of neurons, e.g. NEURON_MEASURE_FLEET_CPU=20.
const envFleetCPU = "NEURON_MEASURE_FLEET_CPU"

// fleetCPUWindow is how long TestFleetHeartbeatCPU reads the federation's
// CPU time, idle and then with the neurons heartbeating every second.
const fleetCPUWindow = 20 * time.Second

var federationURLPattern = regexp.MustCompile(`FEDERATION_URL=(\S+)`)

// TestFleetHeartbeatCPU measures what a neuron's heartbeat costs the
// development federation: `neuron federation serve` runs as a process of
// its own, so that its CPU time (testutil.ProcessCPU) is only its own; it
// is read over fleetCPUWindow idle, then again with N neurons (in this
// process) heartbeating every second through a relay that counts the
// heartbeats. The difference over the count is the CPU per heartbeat:
// receiving it over HTTP, authenticating the neuron, storing it in SQLite.
// docs/benchmarks.md has the command and the results.
func TestFleetHeartbeatCPU(t *testing.T) {
	var n int
	if v := os.Getenv(envFleetCPU); v == "" {
		t.Skip(envFleetCPU + " is not set: a measurement, run by hand (docs/benchmarks.md)")
	} else if _, err := fmt.Sscan(v, &n); err != nil || n < 1 {
		t.Fatalf("%s=%q: want the number of neurons, a positive integer", envFleetCPU, v)
	}
	dir := t.TempDir()
	binary := filepath.Join(dir, "neuron")
	if out, err := exec.Command("go", "build", "-o", binary, "github.com/empirefederation/neuron/cmd/neuron").CombinedOutput(); err != nil {
		t.Fatalf("building the neuron: %v\n%s", err, out)
	}
	token := devfed.GenerateToken()
	out := &testutil.Buffer{}
	fed := exec.Command(binary, "federation", "serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "fed"),
		"--admin-token", token, "--heartbeat-interval", "1s", "--log-level", "warn")
	fed.Stdout, fed.Stderr = out, out
	if err := fed.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = fed.Process.Kill()
		_ = fed.Wait()
	})
	var base string
	testutil.Eventually(t, waitLimit, "the federation's address", func() bool {
		m := federationURLPattern.FindStringSubmatch(out.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	})
	api := adminAPI{base: base, token: token, client: &http.Client{Timeout: waitLimit}}
	relay := newRelay(t, base)

	measure := func() time.Duration {
		from := testutil.ProcessCPU(t, fed.Process.Pid)
		time.Sleep(fleetCPUWindow) // the measurement's window, not a wait for an event
		return testutil.ProcessCPU(t, fed.Process.Pid) - from
	}
	idle := measure()

	plugins := pluginsDir(t, map[string]string{"hello.wasm": "examples/hello"})
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range ids {
		ids[i] = fmt.Sprintf("cpu-%02d", i)
		// Analytics and config polls far apart: the window holds
		// heartbeats only.
		cfg := neuronConfig(t, relay.url, ids[i], plugins, dataDir(t), time.Second, time.Hour, "1h")
		wg.Go(func() { start(t, "--config", cfg) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	testutil.Eventually(t, fleetWait, "every neuron listed active", func() bool {
		return allIn(fleetView(t, api), ids, isActive)
	})
	time.Sleep(3 * time.Second) // settle: the window sees heartbeats, not registrations
	beats := relay.heartbeats.Load()
	busy := measure()
	beats = relay.heartbeats.Load() - beats
	if beats == 0 {
		t.Fatalf("no heartbeat reached the federation in %v", fleetCPUWindow)
	}
	per := (busy - idle) / time.Duration(beats)
	t.Logf("%d neurons, heartbeat every 1s, window %v: federation CPU idle %v, with heartbeats %v (%.2f%% of a core), %d heartbeats: %v per heartbeat",
		n, fleetCPUWindow, idle.Round(time.Microsecond), busy.Round(time.Microsecond),
		100*busy.Seconds()/fleetCPUWindow.Seconds(), beats, per.Round(time.Microsecond))
}
