package agent

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/empirefederation/neuron/federation/fedtest"
	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/internal/testutil"
)

// BenchmarkHeartbeat measures building one heartbeat (status, health score,
// metrics of the interval, encoded) in a neuron serving the data processor
// and probing nothing: what every heartbeat costs the neuron besides the
// HTTP call. System metrics come from the background sampler, so no
// heartbeat waits on sampling.
func BenchmarkHeartbeat(b *testing.B) {
	a := benchAgent(b)
	n := neuron{a}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(n.Status()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAnalyticsReport measures building and encoding one analytics report.
func BenchmarkAnalyticsReport(b *testing.B) {
	a := benchAgent(b)
	n := neuron{a}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(n.Analytics()); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAgent(b *testing.B) *Agent {
	b.Helper()
	fed := fedtest.New(b)
	plugins := filepath.Join(b.TempDir(), "plugins")
	if err := os.Mkdir(plugins, 0o755); err != nil {
		b.Fatal(err)
	}
	wasm, err := os.ReadFile(testutil.BuildWasm(b, "examples/dataprocessor/v1.0.0"))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "dp.wasm"), wasm, 0o644); err != nil {
		b.Fatal(err)
	}
	return startAgent(b, plugins, "--federation-url", fed.URL())
}

// startAgent starts a neuron serving plugins, with a fresh data directory
// and the flags args, stopped when the benchmark ends.
func startAgent(b *testing.B, plugins string, args ...string) *Agent {
	b.Helper()
	cfg, err := config.Load(append([]string{"--listen", "127.0.0.1:0", "--plugins-dir", plugins, "--data-dir", b.TempDir()}, args...),
		func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	a, err := Start(context.Background(), cfg, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Stop() })
	return a
}
