package main

import (
	"bytes"
	"context"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/empirefederation/neuron/internal/testutil"
)

// `neuron drain` puts a running neuron into its drain (new processor calls
// 503 draining, /ready 503) and returns once the call in progress has
// finished, not before; the neuron keeps its own routes and stops on
// SIGTERM with nothing in flight. Without a neuron, or with a bad flag, it
// says what is wrong.
func TestRun_Drain(t *testing.T) {
	skipWithoutSignals(t)
	t.Parallel()
	plugins := pluginsDir(t, map[string]string{"loop.wasm": "runtime/testdata/guests/loop"})
	s := startServer(t, plugins, "NEURON_CALL_TIMEOUT=3s")

	spin := make(chan int, 1)
	go func() {
		status, _, _ := s.get("/t/loop/spin")
		spin <- status
	}()
	testutil.Eventually(t, waitLimit, "the spin to hold an instance", func() bool {
		status, body, err := s.get("/metrics")
		return err == nil && status == http.StatusOK &&
			strings.Contains(string(body), `plugin="loop",state="busy",version="1.0.0"} 1`+"\n")
	})

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	drain := exec.CommandContext(ctx, binary, "drain", "--data-dir", s.data, "--wait", "1m")
	drain.Env = environ()
	var out, errOut bytes.Buffer
	drain.Stdout, drain.Stderr = &out, &errOut
	if err := drain.Start(); err != nil {
		t.Fatal(err)
	}
	drained := make(chan error, 1)
	go func() { drained <- drain.Wait() }()

	testutil.Eventually(t, waitLimit, "/ready to answer 503 draining", func() bool {
		status, body, err := s.get("/ready")
		return err == nil && status == http.StatusServiceUnavailable && strings.Contains(string(body), "draining")
	})
	if status, body, err := s.get("/t/loop/ok"); err != nil || status != http.StatusServiceUnavailable || !strings.Contains(string(body), `"draining"`) {
		t.Errorf("a new call while draining: %d %s %v; want 503 draining", status, body, err)
	}
	select {
	case err := <-drained:
		t.Fatalf("neuron drain returned (%v: %s%s) while a call was in progress", err, out.String(), errOut.String())
	case status := <-spin:
		if err := <-drained; err != nil || !strings.Contains(out.String(), "drained") {
			t.Fatalf("neuron drain after the call ended (%d): %v, %s%s", status, err, out.String(), errOut.String())
		}
	}
	if status, _, err := s.get("/health"); err != nil || status != http.StatusOK {
		t.Errorf("/health while drained: %d %v", status, err)
	}
	s.signal(t, syscall.SIGTERM)
	if code := s.wait(t); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}

	neuron(t, nil, "drain", "--data-dir", t.TempDir()).want(t, "drain with no neuron", 1, "is it running with this data directory?")
	neuron(t, nil, "drain", "--wait", "forever").want(t, "drain --wait forever", 2, "Usage: neuron drain")
	neuron(t, nil, "drain", "--help").want(t, "drain --help", 0, "preStop", "neuron.sock")
}
