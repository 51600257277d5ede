package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation/fedtest"
	"github.com/empirefederation/neuron/internal/oci"
	"github.com/empirefederation/neuron/internal/report"
	"github.com/empirefederation/neuron/internal/testutil"
)

// These tests run neurons that pull the data processor from an OCI
// registry on loopback (go-containerregistry's, see testutil.Registry).

// pushDP pushes the data processor build of version (1.0.0 or 1.1.0) to
// ref and returns the artifact's digest.
func pushDP(t testing.TB, ref, version string) string {
	t.Helper()
	bin, err := os.ReadFile(testutil.BuildWasm(t, "examples/dataprocessor/v"+version))
	if err != nil {
		t.Fatal(err)
	}
	c := &oci.Client{DockerConfig: filepath.Join(t.TempDir(), "config.json")}
	d, err := c.Push(context.Background(), ref, oci.Processor{Module: bin, Name: "data-processor", Version: version})
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return d
}

// standaloneConfig is the configuration of a neuron with no federation,
// serving plugins, keeping its state in data, with extra at the top level.
func standaloneConfig(t *testing.T, plugins, data, extra string) string {
	t.Helper()
	return writeFile(t, "neuron.yaml", fmt.Sprintf("listen: 127.0.0.1:0\npluginsDir: %s\ndataDir: %s\nshutdownTimeout: 5s\n%s", plugins, data, extra))
}

// A declared source is served once the neuron is ready, from an empty
// plugins directory; restarted with its registry down, the neuron serves
// what it pulled before.
func TestSources_DeclaredSurviveRegistryDown(t *testing.T) {
	reg := testutil.StartRegistry(t)
	ref := reg.Host + "/proc/dp:stable"
	pushDP(t, ref, "1.0.0")
	cfg := standaloneConfig(t, pluginsDir(t, nil), dataDir(t), "pluginSources: ["+ref+"]\n")

	n := start(t, "--config", cfg)
	if r := n.do(t, "GET", "/ready", ""); r.status != http.StatusOK {
		t.Fatalf("/ready %d once started, want 200", r.status)
	}
	n.do(t, "GET", "/status", "").wantPlugin(t, "the declared source", dp10)
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}

	reg.Close()
	n = start(t, "--config", cfg)
	n.do(t, "GET", "/status", "").wantPlugin(t, "after a restart with the registry down", dp10)
	if !strings.Contains(n.log.String(), "serving the processor pulled before: the pull failed") {
		t.Errorf("the log does not say the stored copy serves:\n%s", n.log)
	}
}

// A declared source neither reachable nor stored: the neuron starts
// without it, says why, and pulls it once the registry answers.
func TestSources_DeclaredMissingRetried(t *testing.T) {
	reg := testutil.StartRegistry(t)
	ref := reg.Host + "/proc/dp:stable"
	pushDP(t, ref, "1.0.0")
	reg.Garbage(true)
	n := start(t, "--config", standaloneConfig(t, pluginsDir(t, nil), dataDir(t), "pluginSources: ["+ref+"]\n"))
	if r := n.do(t, "GET", "/ready", ""); r.status != http.StatusOK {
		t.Fatalf("/ready %d, want 200: a source missing does not keep the neuron from serving", r.status)
	}
	if r := n.do(t, "GET", "/status", ""); r.status != http.StatusNotFound {
		t.Errorf("GET /status %d with the source missing, want 404", r.status)
	}
	if !strings.Contains(n.log.String(), "declared processor not pulled: the neuron starts without it") {
		t.Errorf("the log does not say the source is missing:\n%s", n.log)
	}
	reg.Garbage(false)
	testutil.Eventually(t, waitLimit, "the source pulled by a retry", func() bool {
		return n.do(t, "GET", "/status", "").header.Get("X-Neuron-Plugin") == dp10
	})
}

// sourceNeuron starts a neuron joined to fed with an empty plugins
// directory, declaring ref, with extra at the top level, and waits until it
// holds its token.
func sourceNeuron(t *testing.T, fed *fedtest.Server, ref, extra string) *neuron {
	t.Helper()
	n := start(t, "--config", federationConfig(t, fed, pluginsDir(t, nil), dataDir(t), "pluginSources: ["+ref+"]\n"+extra))
	testutil.Eventually(t, waitLimit, "registration (its first heartbeat: the neuron holds its token)", func() bool { return len(fed.Heartbeats()) > 0 })
	n.do(t, "GET", "/status", "").wantPlugin(t, "the declared source", dp10)
	return n
}

// reload_plugin resolves the tag of the version serving and pulls it when
// it moved; the registration names the new digest.
func TestSources_ReloadPicksUpMovedTag(t *testing.T) {
	fed := fedtest.New(t)
	reg := testutil.StartRegistry(t)
	ref := reg.Host + "/proc/dp:stable"
	pushDP(t, ref, "1.0.0")
	n := sourceNeuron(t, fed, ref, "")
	moved := pushDP(t, ref, "1.1.0")
	o := n.command(t, fed, "re", "reload_plugin", `{"plugin": "data-processor"}`)
	if !o.OK || !strings.Contains(string(o.Result), moved) {
		t.Fatalf("reload_plugin: %+v, want ok naming %s", o, moved)
	}
	n.do(t, "GET", "/status", "").wantPlugin(t, "after reload_plugin", dp11)
	testutil.Eventually(t, waitLimit, "a registration naming the new digest", func() bool {
		regs := fed.Registrations()
		return len(regs) > 0 && regs[len(regs)-1].Metadata[report.MetadataSources] == ref+"@"+moved
	})
	if count(events(fed), "plugin_source_pulled") < 2 {
		t.Errorf("events %v, want plugin_source_pulled at start and at the reload", events(fed))
	}

	// The registry down: the reload fails, saying why, and 1.1.0 serves on.
	reg.Close()
	if o := n.command(t, fed, "re-down", "reload_plugin", `{"plugin": "data-processor"}`); o.OK || !strings.Contains(o.Error, "nothing was reloaded") {
		t.Errorf("reload_plugin with the registry down: %+v, want it failed saying why", o)
	}
	n.do(t, "GET", "/status", "").wantPlugin(t, "after a reload that failed", dp11)
	testutil.Eventually(t, waitLimit, "a plugin_source_failed event", func() bool { return count(events(fed), "plugin_source_failed") > 0 })
}

// With pluginSourcesPoll, a tag that moved is pulled and swapped in
// without a command.
func TestSources_PollPicksUpMovedTag(t *testing.T) {
	reg := testutil.StartRegistry(t)
	ref := reg.Host + "/proc/dp:stable"
	pushDP(t, ref, "1.0.0")
	n := start(t, "--config", standaloneConfig(t, pluginsDir(t, nil), dataDir(t), "pluginSources: ["+ref+"]\npluginSourcesPoll: 100ms\n"))
	n.do(t, "GET", "/status", "").wantPlugin(t, "the declared source", dp10)
	pushDP(t, ref, "1.1.0")
	testutil.Eventually(t, waitLimit, "the moved tag served", func() bool {
		return n.do(t, "GET", "/status", "").header.Get("X-Neuron-Plugin") == dp11
	})
}

// load_plugin with a reference swaps under load without a failed call;
// one whose registry goes down in the middle of the pull fails, saying
// why, and the version serving keeps serving.
func TestSources_LoadWhileRegistryGoesDown(t *testing.T) {
	fed := fedtest.New(t)
	reg := testutil.StartRegistry(t)
	next, broken := reg.Host+"/proc/dp:1.1.0", reg.Host+"/proc/dp:next"
	digest := pushDP(t, next, "1.1.0")
	pushDP(t, broken, "1.0.0")
	n := start(t, "--config", federationConfig(t, fed, pluginsDir(t, map[string]string{"dp.wasm": "examples/dataprocessor/v1.0.0"}), dataDir(t), ""))
	testutil.Eventually(t, waitLimit, "registration (its first heartbeat: the neuron holds its token)", func() bool { return len(fed.Heartbeats()) > 0 })

	c := startStormClients(n)
	o := n.command(t, fed, "load-next", "load_plugin", fmt.Sprintf(`{"ref": %q}`, next))
	var res struct{ Ref, Digest string }
	if err := json.Unmarshal(o.Result, &res); !o.OK || err != nil || res.Ref != next || res.Digest != digest {
		t.Fatalf("load_plugin %s: %+v, want ok with its digest %s", next, o, digest)
	}
	n.do(t, "GET", "/status", "").wantPlugin(t, "after load_plugin", dp11)
	testutil.Eventually(t, waitLimit, "calls served by 1.1.0", func() bool { return c.count(served(dp11, "")) > 0 })

	reg.DownAtNextBlob()
	o = n.command(t, fed, "load-broken", "load_plugin", fmt.Sprintf(`{"ref": %q}`, broken))
	if o.OK || !strings.Contains(o.Error, broken+": pull ") || !strings.HasSuffix(o.Error, "nothing was changed") {
		t.Errorf("load_plugin with the registry going down: %+v, want it failed saying the pull failed", o)
	}
	t.Logf("load_plugin with the registry going down: %s", o.Error)
	seen := c.count(served(dp11, ""))
	testutil.Eventually(t, waitLimit, "more calls served by 1.1.0", func() bool { return c.count(served(dp11, "")) > seen })
	c.stop(t)
	n.do(t, "GET", "/status", "").wantPlugin(t, "after the failed load", dp11)
	testutil.Eventually(t, waitLimit, "a plugin_source_failed event", func() bool { return count(events(fed), "plugin_source_failed") > 0 })
}

// Three neurons with no shared directory load the same processor from the
// registry by one fleet command through the development federation's
// admin API, and all report the same digest.
func TestDevFederation_FleetLoadsFromRegistry(t *testing.T) {
	api := startDevFed(t)
	reg := testutil.StartRegistry(t)
	ref := reg.Host + "/proc/dp:1.1.0"
	pushDP(t, ref, "1.0.0")
	digest := pushDP(t, ref, "1.1.0") // a moved tag: what the fleet pulls is what it names now
	ids := []string{"reg-a", "reg-b", "reg-c"}
	neurons := map[string]*neuron{}
	for _, id := range ids {
		neurons[id] = start(t, "--config", devConfig(t, api, id, pluginsDir(t, map[string]string{"dp.wasm": "examples/dataprocessor/v1.0.0"}),
			dataDir(t), 150*time.Millisecond, "300ms"))
	}
	testutil.Eventually(t, waitLimit, "the three neurons active", func() bool {
		st := api.statuses(t)
		return st[ids[0]] == "active" && st[ids[1]] == "active" && st[ids[2]] == "active"
	})

	var sent []struct{ ID, NeuronID string }
	api.post(t, "/api/admin/commands", fmt.Sprintf(`{"target": "fleet", "type": "load_plugin", "data": {"ref": %q}}`, ref), http.StatusCreated, &sent)
	if len(sent) != len(ids) {
		t.Fatalf("commands sent: %+v, want one per neuron", sent)
	}
	for _, s := range sent {
		var c commandStatus
		testutil.Eventually(t, waitLimit, "the outcome of "+s.NeuronID, func() bool {
			c = commandOf(t, api, s.NeuronID, s.ID)
			return c.Status == "succeeded" || c.Status == "failed" || c.Status == "rejected"
		})
		if c.Status != "succeeded" || !strings.Contains(string(c.Outcome), digest) {
			t.Errorf("%s: load_plugin %s %s, want succeeded with %s", s.NeuronID, c.Status, c.Outcome, digest)
		}
	}
	want := ref + "@" + digest
	for _, id := range ids {
		neurons[id].do(t, "GET", "/status", "").wantPlugin(t, id, dp11)
		testutil.Eventually(t, waitLimit, id+"'s registration naming "+want, func() bool {
			var detail struct {
				Registration struct {
					Metadata map[string]string `json:"metadata"`
				} `json:"registration"`
			}
			api.get(t, "/api/admin/neurons/"+id, &detail)
			return detail.Registration.Metadata[report.MetadataSources] == want
		})
	}
}
