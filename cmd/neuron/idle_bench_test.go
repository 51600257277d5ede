package main

import (
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/process"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/federation/fedtest"
	"github.com/empirefederation/neuron/internal/testutil"
)

// idleWindow is how long BenchmarkIdleNeuron watches each idle neuron's CPU
// time.
const idleWindow = 15 * time.Second

// idleSettle is left between readiness and the start of the window, so that
// the window sees the idle neuron rather than the tail of its start (the
// first heartbeat and config poll, the runtime returning the memory freed
// after loading the modules).
const idleSettle = 3 * time.Second

// BenchmarkIdleNeuron measures what an idle neuron costs the machine: the
// CPU time (user + system) of a real `neuron run` serving the examples
// (hello and the data processor 1.0.0) and receiving no traffic, over
// idleWindow, as a percentage of one core, and its resident memory at the
// end. It compares the neuron joined to a recording federation on loopback
// at the contract's default intervals (heartbeat 60 s, analytics 60 s,
// config poll 30 s), the same at 1 s intervals (all three loops, then each
// alone), and a standalone neuron as the baseline; the differences are what
// the federation lifecycle costs. The federation runs in the benchmark's
// process, so its own work is not counted; fed-calls is how many calls it
// received during the window.
//
// It is a measurement harness, not a loop: each sub-benchmark measures once
// whatever b.N is, and suppresses ns/op. Run it with -benchtime 1x:
//
//	go test -run '^$' -bench IdleNeuron -benchtime 1x ./cmd/neuron/
func BenchmarkIdleNeuron(b *testing.B) {
	if goruntime.GOOS != "linux" {
		b.Skip("measures CPU time through /proc: Linux only")
	}
	plugins := pluginsDir(b, map[string]string{
		"hello.wasm":                "examples/hello",
		"data-processor-1.0.0.wasm": "examples/dataprocessor/v1.0.0",
	})
	for _, tc := range []struct {
		name      string
		federated bool
		env       []string
	}{
		{name: "standalone"},
		{name: "default-intervals", federated: true},
		{name: "1s-intervals", federated: true, env: []string{
			"NEURON_HEARTBEAT_INTERVAL=1s", "NEURON_ANALYTICS_INTERVAL=1s", "NEURON_CONFIG_POLL_INTERVAL=1s"}},
		// One loop at a time, to tell what each costs.
		{name: "1s-heartbeat-only", federated: true, env: []string{
			"NEURON_HEARTBEAT_INTERVAL=1s", "NEURON_ANALYTICS_INTERVAL=1h", "NEURON_CONFIG_POLL_INTERVAL=1h"}},
		{name: "1s-analytics-only", federated: true, env: []string{
			"NEURON_HEARTBEAT_INTERVAL=1h", "NEURON_ANALYTICS_INTERVAL=1s", "NEURON_CONFIG_POLL_INTERVAL=1h"}},
		{name: "1s-poll-only", federated: true, env: []string{
			"NEURON_HEARTBEAT_INTERVAL=1h", "NEURON_ANALYTICS_INTERVAL=1h", "NEURON_CONFIG_POLL_INTERVAL=1s"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			env := tc.env
			var fed *fedtest.Server
			if tc.federated {
				fed = fedtest.New(b)
				env = append(env, "FEDERATION_URL="+fed.URL(), "NEURON_ID=idle-"+tc.name)
			}
			s := startServer(b, plugins, append(env, "LOG_LEVEL=info")...) // the production default, not the tests' debug
			if n := strings.Count(s.log.String(), `msg="processor loaded"`); n != 2 {
				b.Fatalf("the neuron loaded %d processors, want hello and the data processor:\n%s", n, s.log)
			}
			if fed != nil {
				// Registered, first heartbeat sent, config fetched.
				testutil.Eventually(b, waitLimit, "the first heartbeat and config poll", func() bool {
					return len(fed.Heartbeats()) > 0 && len(fed.Requests(federation.PathConfig)) > 0
				})
			}
			time.Sleep(idleSettle) // not a synchronization: the window starts once the start-up has settled
			calls := func() int {
				if fed == nil {
					return 0
				}
				return len(fed.Requests(""))
			}
			before := calls()
			cpu, rss := idleCost(b, s)
			b.ReportMetric(float64(calls()-before), "fed-calls")
			if s.hasExited() {
				b.Fatalf("the neuron exited during the measurement: %v\n%s", s.cmd.ProcessState, s.log)
			}
			b.ReportMetric(0, "ns/op") // one measurement, not a per-operation time
			b.ReportMetric(cpu, "cpu%")
			b.ReportMetric(rss, "rss-MiB")
		})
	}
}

// idleCost measures the neuron's CPU time over idleWindow and returns it as
// a percentage of one core, with its resident set size at the end in MiB.
func idleCost(b *testing.B, s *server) (cpuPercent, rssMiB float64) {
	b.Helper()
	pid := s.cmd.Process.Pid
	start, from := time.Now(), testutil.ProcessCPU(b, pid)
	time.Sleep(idleWindow) // the measurement window itself
	used, wall := testutil.ProcessCPU(b, pid)-from, time.Since(start)
	p, err := process.NewProcess(int32(pid))
	if err != nil {
		b.Fatalf("reading the neuron's process (pid %d): %v", pid, err)
	}
	mem, err := p.MemoryInfo()
	if err != nil {
		b.Fatalf("reading the neuron's memory (pid %d): %v", pid, err)
	}
	return 100 * used.Seconds() / wall.Seconds(), float64(mem.RSS) / (1 << 20)
}
