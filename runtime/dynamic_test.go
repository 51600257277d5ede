package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// hostConfig calls the echo guest's POST /t/echo/host, which answers the
// configuration it read through the config host function.
func (e *env) hostConfig(ctx context.Context) (map[string]any, error) {
	r, err := e.send(ctx, "POST", "/t/echo/host", nil)
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, fmt.Errorf("POST /t/echo/host: status %d body %.300s", r.status, r.body)
	}
	var cfg map[string]any
	if err := json.Unmarshal(r.body, &cfg); err != nil {
		return nil, fmt.Errorf("config %.300q: %w", r.body, err)
	}
	return cfg, nil
}

// TestSetDynamic_Config: the configuration a processor reads is the one in
// force at the call, Options first, then each SetDynamic, whole.
func TestSetDynamic_Config(t *testing.T) {
	e := startEnv(t, runtime.Options{
		Settings: map[string]any{"batchSize": 100, "shared": "settings"},
		Plugins:  map[string]map[string]any{"echo": {"shared": "echo"}},
	}, guests(t, "echo"))
	steps := []struct {
		name string
		d    runtime.Dynamic
		want map[string]any
	}{
		{"options", runtime.Dynamic{}, map[string]any{"batchSize": 100.0, "shared": "echo"}},
		{"new settings and own settings", runtime.Dynamic{
			Settings: map[string]any{"batchSize": 200, "maxRetries": 3, "shared": "settings"},
			Plugins:  map[string]map[string]any{"echo": {"shared": "echo2", "nested": map[string]any{"a": []any{1, "b"}}}},
		}, map[string]any{"batchSize": 200.0, "maxRetries": 3.0, "shared": "echo2", "nested": map[string]any{"a": []any{1.0, "b"}}}},
		{"settings only", runtime.Dynamic{Settings: map[string]any{"enableDebugMode": true}},
			map[string]any{"enableDebugMode": true}},
		{"another processor's settings are not echo's", runtime.Dynamic{Plugins: map[string]map[string]any{"other": {"secret": 1}}},
			map[string]any{}},
	}
	for i, st := range steps {
		e.run(t, st.name, func(t *testing.T, e *env) {
			if i > 0 {
				if err := e.rt.SetDynamic(st.d); err != nil {
					t.Fatalf("SetDynamic: %v", err)
				}
				if got := e.rt.Dynamic(); !reflect.DeepEqual(got, st.d) {
					t.Errorf("Dynamic() = %+v, want %+v", got, st.d)
				}
			}
			got, err := e.hostConfig(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, st.want) {
				t.Errorf("config = %v, want %v", got, st.want)
			}
		})
	}

	e.run(t, "copied both ways", func(t *testing.T, e *env) {
		d := runtime.Dynamic{Settings: map[string]any{"list": []any{"a"}}, Plugins: map[string]map[string]any{"echo": {"k": "v"}}}
		if err := e.rt.SetDynamic(d); err != nil {
			t.Fatal(err)
		}
		d.Settings["list"].([]any)[0] = "changed by the caller"
		d.Plugins["echo"]["k"] = "changed by the caller"
		got := e.rt.Dynamic()
		got.Settings["list"] = "changed by a reader"
		if again := e.rt.Dynamic(); again.Settings["list"].([]any)[0] != "a" || again.Plugins["echo"]["k"] != "v" {
			t.Errorf("Dynamic() = %+v after the caller and a reader changed their copies", again)
		}
		cfg, err := e.hostConfig(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]any{"list": []any{"a"}, "k": "v"}; !reflect.DeepEqual(cfg, want) {
			t.Errorf("config = %v, want %v", cfg, want)
		}
	})
}

// TestSetDynamic_DeclaredDefaults: a processor whose manifest declares
// settings (here echo, with a sidecar) reads their defaults under
// everything else: the settings, its own settings, each Dynamic.
func TestSetDynamic_DeclaredDefaults(t *testing.T) {
	files := guests(t, "echo")
	files["echo.json"] = []byte(`{"name":"echo","version":"1.0.0","endpoints":[{"method":"POST","path":"/t/echo/host"}],
		"settings":{"greeting":"Hello","maxItems":10,"verbose":false,"shared":"declared"}}`)
	e := startEnv(t, runtime.Options{
		Settings: map[string]any{"shared": "settings", "batchSize": 100},
		Plugins:  map[string]map[string]any{"echo": {"maxItems": 20}},
	}, files)
	steps := []struct {
		name string
		d    *runtime.Dynamic
		want map[string]any
	}{
		{"options over the defaults", nil,
			map[string]any{"greeting": "Hello", "maxItems": 20.0, "verbose": false, "shared": "settings", "batchSize": 100.0}},
		{"own settings over the defaults", &runtime.Dynamic{Plugins: map[string]map[string]any{"echo": {"greeting": "Hi", "verbose": true}}},
			map[string]any{"greeting": "Hi", "maxItems": 10.0, "verbose": true, "shared": "declared"}},
		{"settings over the defaults, own settings over both", &runtime.Dynamic{
			Settings: map[string]any{"greeting": "flat", "shared": "flat"},
			Plugins:  map[string]map[string]any{"echo": {"greeting": "own"}},
		}, map[string]any{"greeting": "own", "maxItems": 10.0, "verbose": false, "shared": "flat"}},
		{"back to the defaults", &runtime.Dynamic{},
			map[string]any{"greeting": "Hello", "maxItems": 10.0, "verbose": false, "shared": "declared"}},
	}
	for _, st := range steps {
		e.run(t, st.name, func(t *testing.T, e *env) {
			if st.d != nil {
				if err := e.rt.SetDynamic(*st.d); err != nil {
					t.Fatalf("SetDynamic: %v", err)
				}
			}
			for range 2 { // the second read is the one encoded at the first
				got, err := e.hostConfig(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, st.want) {
					t.Errorf("config = %v, want %v", got, st.want)
				}
			}
		})
	}
}

func TestSetDynamic_Errors(t *testing.T) {
	e := startEnv(t, runtime.Options{Settings: map[string]any{"batchSize": 100}}, guests(t, "echo"))
	tests := []struct {
		name string
		d    runtime.Dynamic
		msgs []string
	}{
		{"NaN setting", runtime.Dynamic{Settings: map[string]any{"x": math.NaN()}}, []string{"settings:", "NaN"}},
		{"channel in a processor's settings", runtime.Dynamic{Plugins: map[string]map[string]any{"echo": {"c": make(chan int)}}},
			[]string{"plugins.echo:", "chan"}},
		{"empty processor name", runtime.Dynamic{Plugins: map[string]map[string]any{"": {"a": 1}}}, []string{"processor name is empty"}},
		{"negative call timeout", runtime.Dynamic{CallTimeout: -time.Second}, []string{"callTimeout -1s"}},
		{"call timeout above an hour", runtime.Dynamic{CallTimeout: 2 * time.Hour}, []string{"callTimeout 2h0m0s", "at most 1h0m0s"}},
		{"every fault at once", runtime.Dynamic{Settings: map[string]any{"f": func() {}}, CallTimeout: -1},
			[]string{"settings:", "callTimeout"}},
	}
	before := e.rt.Dynamic()
	for _, tc := range tests {
		e.run(t, tc.name, func(t *testing.T, e *env) {
			err := e.rt.SetDynamic(tc.d)
			if err == nil {
				t.Fatal("SetDynamic accepted it")
			}
			for _, m := range tc.msgs {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if got := e.rt.Dynamic(); !reflect.DeepEqual(got, before) {
				t.Errorf("Dynamic() = %+v after a refused update, want the previous %+v", got, before)
			}
			if cfg, err := e.hostConfig(context.Background()); err != nil || cfg["batchSize"] != 100.0 {
				t.Errorf("config after a refused update = %v (%v), want the previous", cfg, err)
			}
		})
	}

	t.Run("New refuses bad settings", func(t *testing.T) {
		_, err := runtime.New(context.Background(), runtime.Options{DataDir: t.TempDir(), Settings: map[string]any{"x": math.Inf(1)}})
		if err == nil || !strings.Contains(err.Error(), "settings") {
			t.Errorf("New with an infinite setting: %v, want an error about settings", err)
		}
	})
}

// TestSetDynamic_CallTimeout: a call timeout set at run time applies to the
// next call, over the processor's own, and zero gives it back.
func TestSetDynamic_CallTimeout(t *testing.T) {
	e := startEnv(t, runtime.Options{PluginLimits: map[string]runtime.Limits{"loop": {CallTimeout: 10 * time.Second}}},
		guests(t, "loop"))
	if r := e.get("/t/loop/ok"); r.status != http.StatusOK {
		t.Fatalf("/t/loop/ok: %d %s", r.status, r.body)
	}
	if err := e.rt.SetDynamic(runtime.Dynamic{CallTimeout: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	r := e.get("/t/loop/spin")
	if r.status != http.StatusGatewayTimeout || r.apiError(t).Code != runtime.CodeTimeout {
		t.Fatalf("spin after SetDynamic(CallTimeout 100ms): %d %s; want 504 timeout", r.status, r.body)
	}
	if err := e.rt.SetDynamic(runtime.Dynamic{}); err != nil {
		t.Fatal(err)
	}
	if r := e.get("/t/loop/ok"); r.status != http.StatusOK {
		t.Errorf("/t/loop/ok after the timeout: %d %s", r.status, r.body)
	}
}

// TestSetDynamic_Hammer applies generation after generation, each with its
// number in Settings and in echo's own settings, while clients read the
// configuration through the guest: every reading must be one generation
// whole, and generations never go back for one client.
func TestSetDynamic_Hammer(t *testing.T) {
	e := startEnv(t, runtime.Options{Limits: runtime.Limits{PoolMax: 4}}, guests(t, "echo"))
	gen := func(g int) runtime.Dynamic {
		return runtime.Dynamic{
			Settings:    map[string]any{"gen": g, "batchSize": g, "pad": strings.Repeat("p", g%50)},
			Plugins:     map[string]map[string]any{"echo": {"ownGen": g}, "other": {"ownGen": -g}},
			CallTimeout: time.Duration(10+g%10) * time.Second,
		}
	}
	generations := 100
	if testing.Short() {
		generations = 50
	}
	if err := e.rt.SetDynamic(gen(0)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var reads atomic.Int64
	var clients sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		clients.Go(func() {
			last := -1.0
			for ctx.Err() == nil {
				cfg, err := e.hostConfig(ctx)
				if ctx.Err() != nil {
					return
				}
				if err == nil {
					g, _ := cfg["gen"].(float64)
					switch {
					case cfg["ownGen"] != g || cfg["batchSize"] != g || cfg["pad"] != strings.Repeat("p", int(g)%50):
						err = fmt.Errorf("config %v mixes generations", cfg)
					case g < last:
						err = fmt.Errorf("generation went back from %v to %v", last, g)
					}
					last = g
				}
				if err != nil {
					errs <- err
					return
				}
				reads.Add(1)
			}
		})
	}
	for g := range generations {
		if err := e.rt.SetDynamic(gen(g)); err != nil {
			t.Fatal(err)
		}
		// Let readings happen between generations.
		target := reads.Load() + 2
		testutil.Eventually(t, waitLimit, "two readings of the configuration", func() bool { return reads.Load() >= target || len(errs) > 0 })
		if len(errs) > 0 {
			break
		}
	}
	cancel()
	clients.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := e.rt.Dynamic(), gen(generations-1); !reflect.DeepEqual(got, want) && !t.Failed() {
		t.Errorf("Dynamic() = %+v, want the last generation %+v", got, want)
	}
	t.Logf("%d readings over %d generations", reads.Load(), generations)
}
