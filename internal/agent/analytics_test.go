package agent_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/devfed"
	"github.com/empirefederation/neuron/internal/testutil"
)

// These tests hold the neuron to counting every request it answers in its
// analytics exactly once, whatever happens to the processor version that
// answered (swapped out, unloaded, rolled back from, an experiment's
// variant stopped) and across a graceful stop: the development federation
// must have stored, summed over the reports, exactly what the clients saw.

// Processor versions of the data processor, as X-Neuron-Plugin names them.
const (
	dp10 = "data-processor@1.0.0"
	dp11 = "data-processor@1.1.0"
)

// reported sums what a development federation stored of one neuron's
// analytics reports.
type reported struct {
	reports int
	total   int64
	// byVersion sums the breakdown rows of processor versions, by
	// NAME@VERSION; byVariant those of experiment variants, by variant.
	byVersion, byVariant map[string]int64
}

// reportRows is one stored analytics report.
type reportRows struct {
	TotalRequests float64                   `json:"totalRequests"`
	Breakdown     []federation.BreakdownRow `json:"breakdown"`
}

// reported returns the sums of neuron id's reports.
func (api adminAPI) reported(t *testing.T, id string) reported {
	t.Helper()
	var list []reportRows
	api.get(t, "/api/admin/neurons/"+id+"/analytics?limit=5000", &list)
	r := reported{reports: len(list), byVersion: map[string]int64{}, byVariant: map[string]int64{}}
	for _, rep := range list {
		r.total += int64(rep.TotalRequests)
		for _, row := range rep.Breakdown {
			if row.Variant != "" {
				r.byVariant[row.Variant] += row.TotalRequests
			} else {
				r.byVersion[row.Plugin+"@"+row.Version] += row.TotalRequests
			}
		}
	}
	return r
}

// served matches the answers of plugin (NAME@VERSION, "" for none) and
// variant ("" for none).
func served(plugin, variant string) func(servedBy) bool {
	return func(by servedBy) bool { return by == servedBy{plugin, variant} }
}

// wantCounted checks that the reports add up to exactly what the clients
// saw answered: in all, by processor version, by experiment variant.
func wantCounted(t *testing.T, got reported, seen map[servedBy]int64) {
	t.Helper()
	var total int64
	byVersion, byVariant := map[string]int64{}, map[string]int64{}
	for by, n := range seen {
		total += n
		if by.plugin != "" {
			byVersion[by.plugin] += n
		}
		if by.variant != "" {
			byVariant[by.variant] += n
		}
	}
	t.Logf("%d reports; the clients saw %d answers %v", got.reports, total, seen)
	if got.total != total {
		t.Errorf("the reports count %d requests, the clients saw %d answered", got.total, total)
	}
	for _, m := range []struct {
		what      string
		got, want map[string]int64
	}{{"version", got.byVersion, byVersion}, {"variant", got.byVariant, byVariant}} {
		for k, want := range m.want {
			if m.got[k] != want {
				t.Errorf("%s %s: the reports count %d requests, the clients saw %d", m.what, k, m.got[k], want)
			}
		}
		for k, got := range m.got {
			if _, ok := m.want[k]; !ok {
				t.Errorf("%s %s: the reports count %d requests the clients never saw", m.what, k, got)
			}
		}
	}
}

// TestDevFederation_AnalyticsExactlyOnce: under load from several
// clients, the data processor is swapped from 1.0.0 to 1.1.0, unloaded,
// reloaded, rolled back to 1.0.0, split with 1.1.0 by an experiment that
// is then stopped, and unpinned; analytics go every 150 ms, so versions
// leave between reports with calls not reported yet, and come back. After
// a graceful stop the development federation's reports add up to exactly
// the answers the clients got, in all, by version and by variant.
func TestDevFederation_AnalyticsExactlyOnce(t *testing.T) {
	api := startDevFed(t)
	const id = "count-once"
	plugins := pluginsDir(t, map[string]string{"dp-1.wasm": "examples/dataprocessor/v1.0.0"})
	v11, err := os.ReadFile(testutil.BuildWasm(t, "examples/dataprocessor/v1.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	n := start(t, "--config", devConfig(t, api, id, plugins, dataDir(t), 150*time.Millisecond, "300ms"))
	testutil.Eventually(t, waitLimit, "the neuron active", func() bool { return api.statuses(t)[id] == "active" })
	rt, ctx := n.a.Runtime(), context.Background()

	c := startClients(n, true)
	t.Cleanup(func() { c.cancel(); c.wg.Wait() })
	// phase waits for 20 more answers that match m and a report: each
	// step spans a report, with calls on either side of it.
	phase := func(what string, m func(servedBy) bool) {
		t.Helper()
		from, reports := c.count(m), api.reported(t, id).reports
		testutil.Eventually(t, waitLimit, what+" and a report", func() bool {
			return c.count(m) >= from+20 && api.reported(t, id).reports > reports
		})
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	phase("answers from 1.0.0", served(dp10, ""))
	dropBytes(t, plugins, "dp-2.wasm", v11)
	_, err = rt.Sync(ctx)
	must("sync the new version", err)
	phase("answers from 1.1.0 after the swap", served(dp11, ""))
	must("unload", rt.Unload(ctx, "data-processor"))
	phase("404s while unloaded", served("", ""))
	_, err = rt.Reload(ctx, "data-processor")
	must("reload", err)
	phase("answers from 1.1.0 reloaded", served(dp11, ""))
	_, _, err = rt.Rollback(ctx, "data-processor")
	must("rollback", err)
	phase("answers from 1.0.0 after the rollback", served(dp10, ""))
	api.post(t, "/api/admin/experiments", `{"target": "fleet", "experiment": {"id": "exp-count", "plugin": "data-processor",
		"variants": [{"name": "control", "weight": 50, "version": "1.0.0"}, {"name": "new", "weight": 50, "version": "1.1.0"}]}}`,
		http.StatusCreated, nil)
	phase("answers from the control variant", served(dp10, "control"))
	phase("answers from the new variant", served(dp11, "new"))
	api.post(t, "/api/admin/experiments/exp-count/stop", "", http.StatusOK, nil)
	phase("answers from 1.0.0 after the experiment", served(dp10, ""))
	must("unpin", rt.Unpin(ctx, "data-processor"))
	phase("answers from 1.1.0 unpinned", served(dp11, ""))
	c.stop(t)

	must("stop the neuron", n.stop())
	wantCounted(t, api.reported(t, id), c.answers)
}

// TestDevFederation_AnalyticsAtStop: requests served after the last
// report, some by a version swapped out before the stop, are in the final
// report of a graceful stop: received by the development federation when
// it is up, or kept in the spool and delivered after the next start when
// it is down.
func TestDevFederation_AnalyticsAtStop(t *testing.T) {
	v11, err := os.ReadFile(testutil.BuildWasm(t, "examples/dataprocessor/v1.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fedDown := range []bool{false, true} {
		name := map[bool]string{false: "federation up", true: "federation down, the spool delivers"}[fedDown]
		t.Run(name, func(t *testing.T) {
			const id = "count-stop"
			fedData, token := t.TempDir(), devfed.GenerateToken()
			api, stopFed := serveDevFed(t, "127.0.0.1:0", fedData, token, devfed.Options{})
			plugins, data := pluginsDir(t, map[string]string{"dp-1.wasm": "examples/dataprocessor/v1.0.0"}), dataDir(t)
			// No periodic report: the reports are the flush below and
			// the final one.
			cfg := devConfig(t, api, id, plugins, data, time.Hour, "300ms")
			n := start(t, "--config", cfg)
			testutil.Eventually(t, waitLimit, "the neuron active", func() bool { return api.statuses(t)[id] == "active" })
			seen := map[servedBy]int64{}
			call := func(k int, want string) {
				t.Helper()
				for range k {
					n.do(t, "GET", "/status", "").wantPlugin(t, "GET /status", want)
					seen[servedBy{want, ""}]++
				}
			}

			call(5, dp10)
			api.post(t, "/api/admin/commands", `{"target": "`+id+`", "type": "flush_analytics"}`, http.StatusCreated, nil)
			testutil.Eventually(t, waitLimit, "the flushed report", func() bool { return api.reported(t, id).total >= 5 })
			if got := api.reported(t, id); got.total != 5 || got.reports != 1 {
				t.Fatalf("%d reports of %d requests after the flush, want 1 of 5", got.reports, got.total)
			}
			// After the last report: 4 more on 1.0.0, which 1.1.0 then
			// replaces, and 3 on 1.1.0.
			call(4, dp10)
			dropBytes(t, plugins, "dp-1.wasm", v11)
			if _, err := n.a.Runtime().Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			call(3, dp11)
			if fedDown {
				stopFed()
			}
			addr := n.a.Addr().String()
			if err := n.stop(); err != nil {
				t.Fatal(err)
			}
			if fedDown {
				// The same federation (address, data, token) back, and the
				// neuron started again on its data directory and its
				// address, as a restart does. Elsewhere it would be
				// another instance to the federation, which never heard
				// the first one stop: refused the id until the first is
				// offline (five liveness periods, a minute here), and
				// retrying a refusal after a minute.
				api, _ = serveDevFed(t, strings.TrimPrefix(api.base, "http://"), fedData, token, devfed.Options{})
				n = start(t, "--config", cfg, "--listen", addr)
				testutil.Eventually(t, waitLimit, "the spooled report delivered", func() bool { return api.reported(t, id).reports >= 2 })
				if err := n.stop(); err != nil {
					t.Fatal(err)
				}
			}
			// 5 in the flushed report, so the 7 served after it in the
			// final one.
			wantCounted(t, api.reported(t, id), seen)
		})
	}
}
