package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/empirefederation/neuron/internal/testutil"
)

// slowInit writes testdata/slowinit.wat, a processor whose _initialize
// logs "init looping" and never returns, into dir as each of names (with
// its sidecar manifest), and returns the first file's path.
func slowInit(t *testing.T, dir string, names ...string) string {
	t.Helper()
	mod := testutil.Wat(t, "testdata/slowinit.wat")
	manifest, err := os.ReadFile("testdata/slowinit.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		m := bytes.Replace(manifest, []byte(`"slowinit"`), []byte(`"`+name+`"`), 1)
		m = bytes.Replace(m, []byte(`"/slowinit"`), []byte(`"/`+name+`"`), 1)
		if err := os.WriteFile(filepath.Join(dir, name+".wasm"), mod, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".json"), m, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, names[0]+".wasm")
}

// `neuron plugin validate` on a module whose _initialize never returns
// ends when its context does (main cancels it on SIGTERM and SIGINT),
// saying so, instead of running the guest to its start timeout.
func TestPlugin_ValidateInterrupted(t *testing.T) {
	path := slowInit(t, t.TempDir(), "spin")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, cmd := range []string{"validate", "inspect"} {
		var stdout, stderr bytes.Buffer
		if code := run(ctx, []string{"plugin", cmd, path}, &stdout, &stderr); code != exitFailure {
			t.Errorf("%s: exit %d, want %d", cmd, code, exitFailure)
		}
		if !strings.Contains(stderr.String(), "context canceled") {
			t.Errorf("%s: stderr %q, want the guest stopped (context canceled)", cmd, stderr.String())
		}
	}
}

// SIGTERM ends `neuron run` within the shutdown timeout even while the
// load of the plugins directory runs guest code that never returns and
// would run for minutes (limits.startTimeout 10m): the load is
// interrupted, and the neuron exits 0.
func TestRun_SIGTERMWhileLoading(t *testing.T) {
	skipWithoutSignals(t)
	t.Parallel()
	plugins := t.TempDir()
	slowInit(t, plugins, "spin1", "spin2", "spin3")
	config := filepath.Join(t.TempDir(), "neuron.yaml")
	if err := os.WriteFile(config, []byte("limits: {startTimeout: 10m}\nmaxLimits: {startTimeout: 10m}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "run")
	cmd.Dir = t.TempDir()
	cmd.Env = environ("NEURON_LISTEN=127.0.0.1:0", "NEURON_PLUGINS_DIR="+plugins, "NEURON_DATA_DIR="+t.TempDir(),
		"NEURON_CONFIG="+config, "NEURON_SHUTDOWN_TIMEOUT=5s")
	s := &server{cmd: cmd, log: &testutil.Buffer{}}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	s.exited = spawn(t, cmd, func() string { return "neuron log:\n" + s.log.String() })
	testutil.Eventually(t, waitLimit, "the load to run the spinning _initialize", func() bool {
		if s.hasExited() {
			t.Fatalf("the neuron exited with %v", cmd.ProcessState)
		}
		return strings.Contains(s.log.String(), `msg="init looping"`)
	})
	s.signal(t, syscall.SIGTERM)
	if code := s.wait(t); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
}
