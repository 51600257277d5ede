package runtime_test

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/runtime"
)

// A processor's manifest asking for more than the operator's maximums
// (here 40,000 instances, which used to map guest memory until the kernel
// refused and wazero panicked, at every restart) is refused with a reason
// naming each limit, its maximum and the key that raises it; its
// neighbour serves. A manifest within them loads.
func TestMaxLimits_ManifestBeyondIsRefused(t *testing.T) {
	files := watPlugin(t, "healthy", "ok", `{"poolMax":64,"poolMin":2}`, "handle")
	maps.Copy(files, watPlugin(t, "greedy", "ok", `{"poolMin":40000,"poolMax":40000,"callTimeout":"30m"}`, "handle"))
	e := startEnv(t, runtime.Options{}, files)

	if r := e.get("/w/healthy/handle"); r.status != http.StatusOK || string(r.body) != "ok" {
		t.Errorf("healthy: status %d body %q, want 200 ok", r.status, r.body)
	}
	if got := e.processor("healthy").Limits; got.PoolMax != 64 || got.PoolMin != 2 {
		t.Errorf("healthy limits %+v, want its manifest's pool 2..64", got)
	}
	if r := e.get("/w/greedy/handle"); r.status != http.StatusNotFound {
		t.Errorf("greedy: status %d, want 404 (not loaded)", r.status)
	}
	rejected := e.events.ofType(runtime.EventPluginRejected)
	if len(rejected) != 1 {
		t.Fatalf("%d rejections, want greedy's", len(rejected))
	}
	reason := eventData(t, rejected[0])["reason"]
	for _, want := range []string{
		"the manifest asks for poolMin 40000, above the operator's maximum of 16",
		"the manifest asks for poolMax 40000, above the operator's maximum of 64: lower it in the manifest, or the operator raises maxLimits.poolMax",
		"the manifest asks for callTimeout 30m0s, above the operator's maximum of 5m0s",
	} {
		if !strings.Contains(reason, want) {
			t.Errorf("reason %q lacks %q", reason, want)
		}
	}
}

// The operator's maximums bound the operator's own limits too, and are
// themselves bounded by HardMaxLimits; an operator who raises one lets a
// manifest ask for that much.
func TestMaxLimits_Operator(t *testing.T) {
	tests := []struct {
		name        string
		opts        runtime.Options
		expectedErr string
	}{
		{"default above the maximum", runtime.Options{Limits: runtime.Limits{PoolMax: 40000}},
			"limits: limits.poolMax 40000 is above maxLimits.poolMax 64: lower it or raise maxLimits.poolMax"},
		{"per processor above the maximum", runtime.Options{PluginLimits: map[string]runtime.Limits{"x": {PoolMin: 40000, PoolMax: 40000}}},
			"limits: pluginLimits.x.poolMin 40000 is above maxLimits.poolMin 16"},
		{"maximum above the hard maximum", runtime.Options{MaxLimits: runtime.Limits{PoolMax: 40000}},
			"maxLimits: maxLimits.poolMax 40000 is above the neuron's hard maximum 1024"},
		{"negative maximum", runtime.Options{MaxLimits: runtime.Limits{PoolQueue: -1}},
			"maxLimits: maxLimits.poolQueue -1: must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.CacheDir, tc.opts.DataDir = cacheDir, t.TempDir()
			rt, err := runtime.New(context.Background(), tc.opts)
			if err == nil {
				_ = rt.Close(context.Background())
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.expectedErr) {
				t.Errorf("error %q, want %q", err, tc.expectedErr)
			}
		})
	}

	t.Run("raised maximum admits the manifest", func(t *testing.T) {
		e := startEnv(t, runtime.Options{MaxLimits: runtime.Limits{PoolMax: 100}},
			watPlugin(t, "wide", "ok", `{"poolMax":100}`, "handle"))
		if got := e.processor("wide").Limits.PoolMax; got != 100 {
			t.Errorf("poolMax %d, want the manifest's 100", got)
		}
	})
	t.Run("lowered maximum lowers the defaults", func(t *testing.T) {
		e := startEnv(t, runtime.Options{MaxLimits: runtime.Limits{PoolMax: 2, PoolMin: 1}},
			watPlugin(t, "narrow", "ok", "", "handle"))
		if got := e.processor("narrow").Limits; got.PoolMax != 2 {
			t.Errorf("limits %+v, want poolMax 2", got)
		}
	})
}
