package runtime_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/runtime"
)

// A version whose file contents come back moments after it was retired
// takes over its kept compiled module instead of compiling and probing
// the module again: the opens metric says so, and nothing else differs.
// Its instances are new ones, its host calls reach the new version (its
// file name in the log, its own custom counters), the memory limit it was
// compiled under holds, at most one runtime per contents is kept, and
// Close closes the kept ones.
func TestSync_SwapBackTakesKeptCode(t *testing.T) {
	tests := []struct {
		name   string
		limits map[string]runtime.Limits
		check  func(t *testing.T, e *env)
	}{
		{name: "host calls reach the new version", check: func(t *testing.T, e *env) {
			if r := e.do(http.MethodPost, "/t/echo/host", nil); r.status != http.StatusOK {
				t.Fatalf("POST /t/echo/host: %d %s", r.status, r.body)
			}
			if got := e.processor("echo").Custom["echoCalls"]; got != 1 {
				t.Errorf("the new version's echoCalls counter is %v, want 1: the host call reached another version", got)
			}
			if len(e.logs.find("echo host", "file", "q.wasm")) != 1 {
				t.Errorf("no guest log line with file q.wasm: the host call reached another version")
			}
		}},
		{name: "its own memory limit holds", limits: map[string]runtime.Limits{"echo": {MemoryPages: 512}}, check: func(t *testing.T, e *env) {
			// 40 MB do not fit in 512 pages (32 MiB).
			if r := e.get("/t/echo/size/40000000"); r.status != http.StatusInternalServerError || r.apiError(t).Code != runtime.CodeMemoryLimit {
				t.Errorf("GET /t/echo/size/40000000: %d %.200s, want 500 %s", r.status, r.body, runtime.CodeMemoryLimit)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The builds of TestSync_NoLeaks: the compilation cache knows them.
			a, b := retag(guest(t, "echo"), "a"), retag(guest(t, "echo"), "b")
			e := startEnv(t, runtime.Options{PluginLimits: tc.limits}, map[string][]byte{"p.wasm": a})
			const id = "echo@1.0.0"
			e.get("/t/echo/1")
			before := e.workerIDs("")

			e.put(map[string][]byte{"p.wasm": b})
			e.sync()
			e.settled()
			e.wantOpens(2, 0, 1)

			// a again, under another name: the file's path is not its identity.
			e.remove("p.wasm")
			e.put(map[string][]byte{"q.wasm": a})
			if ch := e.sync(); !slices.Equal(ids(ch.Loaded), []string{id}) || !strings.HasSuffix(ch.Loaded[0].File, "q.wasm") {
				t.Fatalf("Sync = %s, want %s loaded from q.wasm", summary(ch), id)
			}
			e.settled()
			e.wantOpens(2, 1, 1)
			if len(e.logs.find("processor loaded", "file", "q.wasm", "code", "kept")) != 1 {
				t.Errorf("no log line says q.wasm was loaded from kept code")
			}
			if got := e.servedBy("/t/echo/1"); got != id {
				t.Errorf("served by %s, want %s", got, id)
			}
			for _, w := range e.workerIDs("") {
				if slices.Contains(before, w) {
					t.Errorf("worker %s served the version retired before; want new instances only", w)
				}
			}
			tc.check(t, e)

			if err := e.rt.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if r := e.rt.Resources(); r.WazeroRuntimes != 0 || r.KeptRuntimes != 0 {
				t.Errorf("after Close %+v, want no wazero runtime open", r)
			}
		})
	}
}

// wantOpens checks how many versions were opened by compiling and from
// kept code, and how many compiled modules are kept now.
func (e *env) wantOpens(compiled, kept, keptNow int) {
	e.t.Helper()
	c, _ := e.metric("neuron_plugin_opens_total", "code", "compiled")
	k, _ := e.metric("neuron_plugin_opens_total", "code", "kept")
	g := e.mustMetric("neuron_plugin_codes_kept")
	if int(c) != compiled || int(k) != kept || int(g) != keptNow || e.rt.Resources().KeptRuntimes != keptNow {
		e.t.Errorf("opened %v compiled and %v from kept code, %v kept (Resources %+v); want %d, %d, %d",
			c, k, g, e.rt.Resources(), compiled, kept, keptNow)
	}
}
