package agent_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/federation/fedtest"
	"github.com/empirefederation/neuron/internal/testutil"
)

// TestAgent_WatchesPlugins: a running neuron serves a module dropped into
// its plugins directory, swaps a module replaced there, and stops serving
// a removed one, with no command and no restart; the federation gets a
// registration with the endpoints served after each change.
func TestAgent_WatchesPlugins(t *testing.T) {
	fed := fedtest.New(t)
	plugins := pluginsDir(t, map[string]string{"dp.wasm": "examples/dataprocessor/v1.0.0"})
	n := start(t, "--config", federationConfig(t, fed, plugins, dataDir(t), "pluginsWatchQuiet: 20ms"))
	testutil.Eventually(t, waitLimit, "registration", func() bool { return len(fed.Registrations()) > 0 })
	n.do(t, "GET", "/hello/ada", "").wantError(t, "before the drop", http.StatusNotFound, "not_found")

	t.Run("dropped by atomic rename", func(t *testing.T) {
		drop(t, plugins, "examples/hello", "hello.wasm")
		r := n.waitStatus(t, "GET", "/hello/ada", http.StatusOK)
		r.wantPlugin(t, "hello", "hello@1.0.0")
		if !strings.Contains(string(r.body), `"Hello, ada!"`) {
			t.Errorf("body %s", r.body)
		}
		waitRegistration(t, fed, "with GET /hello/{name}", func(eps []string) bool {
			return slices.Contains(eps, "GET /hello/{name}") && slices.Contains(eps, "POST /process")
		})
	})

	t.Run("replaced by a new version", func(t *testing.T) {
		drop(t, plugins, "examples/dataprocessor/v1.1.0", "dp.wasm")
		testutil.Eventually(t, waitLimit, "version 1.1.0 serving", func() bool {
			r, err := n.send(context.Background(), "GET", "/status", "")
			return err == nil && r.status == http.StatusOK && r.header.Get("X-Neuron-Plugin") == "data-processor@1.1.0"
		})
	})

	t.Run("removed", func(t *testing.T) {
		if err := os.Remove(filepath.Join(plugins, "hello.wasm")); err != nil {
			t.Fatal(err)
		}
		n.waitStatus(t, "GET", "/hello/ada", http.StatusNotFound).wantError(t, "after the removal", http.StatusNotFound, "not_found")
		waitRegistration(t, fed, "without GET /hello/{name}", func(eps []string) bool {
			return !slices.Contains(eps, "GET /hello/{name}") && slices.Contains(eps, "POST /process")
		})
		n.do(t, "GET", "/status", "").wantPlugin(t, "the other processor", "data-processor@1.1.0")
	})
}

// TestAgent_PluginsWatchOff: with pluginsWatch false the neuron says that
// it does not follow the directory.
func TestAgent_PluginsWatchOff(t *testing.T) {
	plugins := pluginsDir(t, map[string]string{"hello.wasm": "examples/hello"})
	n := start(t, "--listen", "127.0.0.1:0", "--plugins-dir", plugins, "--data-dir", dataDir(t),
		"--config", writeFile(t, "neuron.yaml", "pluginsWatch: false\n"))
	n.do(t, "GET", "/hello/ada", "").wantPlugin(t, "hello", "hello@1.0.0")
	if log := n.log.String(); !strings.Contains(log, "plugins directory not watched (pluginsWatch is false)") {
		t.Errorf("log does not say the directory is not watched:\n%s", log)
	}
}

// drop builds the module of pkg and moves it into dir as name the way a
// deployment should: written under a hidden name, then renamed.
func drop(t *testing.T, dir, pkg, name string) {
	t.Helper()
	b, err := os.ReadFile(testutil.BuildWasm(t, pkg))
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// waitStatus repeats a request until it answers status, and returns that
// answer.
func (n *neuron) waitStatus(t *testing.T, method, path string, status int) reply {
	t.Helper()
	var r reply
	testutil.Eventually(t, waitLimit, method+" "+path+" answering "+http.StatusText(status), func() bool {
		var err error
		r, err = n.send(context.Background(), method, path, "")
		return err == nil && r.status == status
	})
	return r
}

// waitRegistration waits for a registration whose endpoints ("METHOD
// PATH") satisfy cond.
func waitRegistration(t *testing.T, fed *fedtest.Server, what string, cond func(eps []string) bool) {
	t.Helper()
	testutil.Eventually(t, waitLimit, "a registration "+what, func() bool {
		regs := fed.Registrations()
		return len(regs) > 0 && cond(endpoints(regs[len(regs)-1]))
	})
}

func endpoints(r federation.Registration) []string {
	var out []string
	for _, e := range r.APIEndpoints {
		out = append(out, e.Method+" "+e.Path)
	}
	return out
}
