package agent_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/process"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/devfed"
	"github.com/empirefederation/neuron/internal/testutil"
)

// measureFleetEnv turns TestFleetFederationCPU on: it is a measurement for
// docs/benchmarks.md, a minute of wall time, not a check for CI.
const measureFleetEnv = "NEURON_MEASURE_FLEET"

const (
	// measureHeartbeat is the neurons' heartbeat period in the measurement:
	// fleetSize/measureHeartbeat heartbeats a second, and nothing else (the
	// analytics and config poll periods are an hour).
	measureHeartbeat = 250 * time.Millisecond
	// measureWindow is how long each CPU reading lasts; measureSettle is
	// left before it, so that the window sees the steady state rather than
	// the tail of the start (registrations, the first heartbeats).
	measureWindow = 20 * time.Second
	measureSettle = 3 * time.Second
)

// TestFleetFederationCPU measures what a neuron's heartbeat costs the
// federation: a real `neuron federation serve` (built here, a process of
// its own so that its CPU time is its own) with no neuron for a window
// (the idle baseline), then with fleetSize neurons heartbeating every
// measureHeartbeat for another; the CPU time above the baseline, divided by
// the heartbeats the federation counted in the window
// (neuron_federation_requests_total on the status route), is the CPU per
// heartbeat. The neurons run in the test's process. Run it with
//
//	NEURON_MEASURE_FLEET=1 go test -count=1 -run TestFleetFederationCPU -v ./internal/agent/
func TestFleetFederationCPU(t *testing.T) {
	if os.Getenv(measureFleetEnv) == "" {
		t.Skip("a measurement, not a check: set " + measureFleetEnv + "=1 to run it")
	}
	if goruntime.GOOS != "linux" {
		t.Skip("reads the federation's CPU time through /proc: Linux only")
	}
	api, fed := serveFederationProcess(t)

	time.Sleep(measureSettle) // not a synchronization: the window starts once the start-up has settled
	idle := cpuOver(t, fed, measureWindow)
	t.Logf("idle federation: %v CPU in %v", idle.Round(time.Microsecond), measureWindow)

	plugins := pluginsDir(t, map[string]string{"hello.wasm": "examples/hello"})
	ids := make([]string, fleetSize)
	for i := range ids {
		ids[i] = fmt.Sprintf("measure-%02d", i)
		start(t, "--config", neuronConfig(t, api.base, ids[i], plugins, dataDir(t), measureHeartbeat, time.Hour, "1h"))
	}
	testutil.Eventually(t, fleetWait, "every neuron listed active", func() bool {
		return allIn(fleetView(t, api), ids, isActive)
	})
	time.Sleep(measureSettle) // as above
	before := heartbeatsCounted(t, api)
	busy := cpuOver(t, fed, measureWindow)
	beats := heartbeatsCounted(t, api) - before
	if beats <= 0 {
		t.Fatalf("the federation counted %v heartbeats in %v", beats, measureWindow)
	}
	per := time.Duration(float64(busy-idle) / beats)
	t.Logf("%d neurons heartbeating every %v: %v CPU in %v for %.0f heartbeats (%.1f/s): %v CPU per heartbeat above idle, %.2f%% of a core",
		fleetSize, measureHeartbeat, busy.Round(time.Microsecond), measureWindow, beats, beats/measureWindow.Seconds(),
		per.Round(time.Microsecond), 100*(busy-idle).Seconds()/measureWindow.Seconds())
}

// serveFederationProcess builds the neuron and runs `neuron federation
// serve` on a free loopback port, with fleetLiveness as its heartbeat
// interval, until the test ends; it returns its admin API once it answers,
// and its process.
func serveFederationProcess(t *testing.T) (adminAPI, *process.Process) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "neuron")
	build := exec.Command("go", "build", "-o", bin, "./cmd/neuron")
	build.Dir = testutil.RepoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the neuron: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil { // the federation takes the port over
		t.Fatal(err)
	}
	api := adminAPI{base: "http://" + addr, token: devfed.GenerateToken(), client: &http.Client{Timeout: waitLimit}}
	logs := &testutil.Buffer{}
	cmd := exec.CommandContext(context.Background(), bin, "federation", "serve", "--listen", addr, "--data", t.TempDir(),
		"--admin-token", api.token, "--heartbeat-interval", fleetLiveness.String(), "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the federation: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("federation log:\n%s", logs)
		}
	})
	testutil.Eventually(t, waitLimit, "the federation to answer", func() bool {
		resp, err := api.client.Get(api.base + "/metrics")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	p, err := process.NewProcess(int32(cmd.Process.Pid))
	if err != nil {
		t.Fatalf("the federation's process: %v", err)
	}
	return api, p
}

// cpuOver returns the CPU time (user + system) p uses over window.
func cpuOver(t *testing.T, p *process.Process, window time.Duration) time.Duration {
	t.Helper()
	from := cpuSoFar(t, p)
	time.Sleep(window) // the measurement window itself
	return cpuSoFar(t, p) - from
}

// cpuSoFar is the CPU time p has used. It counts in clock ticks (10 ms),
// fine against the seconds a window of heartbeats takes.
func cpuSoFar(t *testing.T, p *process.Process) time.Duration {
	t.Helper()
	times, err := p.Times()
	if err != nil {
		t.Fatalf("the federation's CPU time: %v", err)
	}
	return time.Duration((times.User + times.System) * float64(time.Second))
}

// heartbeatsCounted is how many heartbeats the federation has answered,
// from its own metrics.
func heartbeatsCounted(t *testing.T, api adminAPI) float64 {
	t.Helper()
	resp, err := api.client.Get(api.base + "/metrics")
	if err != nil {
		t.Fatalf("the federation's metrics: %v", err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	n, samples := testutil.SumSamples(t, string(text), "neuron_federation_requests_total", "route", federation.PathStatus)
	if samples == 0 {
		t.Fatalf("the federation's metrics have no neuron_federation_requests_total{route=%q}:\n%s", federation.PathStatus, text)
	}
	return n
}
