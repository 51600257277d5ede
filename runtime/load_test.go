package runtime_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero/api"

	"github.com/empirefederation/neuron/internal/limits"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
	"github.com/empirefederation/neuron/sdk/abi"
)

// badModule is a plugin file the runtime must refuse, and what the reason
// must say.
type badModule struct {
	file    string // in the plugins directory
	files   func(t testing.TB) map[string][]byte
	reasons []string // substrings of the refusal reason
	// named is NAME@VERSION when the manifest was read before the
	// failure: the rejection names the processor.
	named string
}

// badModules are refused at load and by Inspect, each for its own reason.
// Their names sort after echo.wasm, so that zdupe is the later file.
func badModules() []badModule {
	sidecarModule := func(name, manifest string) func(t testing.TB) map[string][]byte {
		return func(t testing.TB) map[string][]byte {
			return map[string][]byte{name + ".wasm": guest(t, "nomanifest"), name + ".json": []byte(manifest)}
		}
	}
	file := func(name string, b func(t testing.TB) []byte) func(t testing.TB) map[string][]byte {
		return func(t testing.TB) map[string][]byte { return map[string][]byte{name: b(t)} }
	}
	return append([]badModule{
		{
			file:    "notwasm.wasm",
			files:   file("notwasm.wasm", func(testing.TB) []byte { return []byte("#!/bin/sh\necho not a module\n") }),
			reasons: []string{"not a WebAssembly module"},
		},
		{
			// Found by fuzzing the instrumentation: a function type that
			// claims 2^32 parameters in a 20-byte file. Refused at once,
			// without allocating for the claimed count.
			file: "hugecount.wasm",
			files: file("hugecount.wasm", func(testing.TB) []byte {
				return []byte("\x00asm\x01\x00\x00\x00\x01\x05\x01`\x99\x99\x99\x99\x01\xa7j\x03")
			}),
			reasons: []string{"malformed module", "type section", "runs past its end"},
		},
		{
			file:    "truncated.wasm",
			files:   file("truncated.wasm", func(t testing.TB) []byte { return guest(t, "echo")[:100<<10] }),
			reasons: []string{"malformed module", "is the file complete?"},
		},
		{
			file:    "badabi.wasm",
			files:   file("badabi.wasm", func(t testing.TB) []byte { return guest(t, "badabi") }),
			reasons: []string{"ABI version 99 is not supported", "ABI v1"},
		},
		{
			file:    "noexports.wasm",
			files:   file("noexports.wasm", func(t testing.TB) []byte { return guest(t, "noexports") }),
			reasons: []string{"missing required exports " + abi.ExportAlloc},
		},
		{
			file:    "initfail.wasm",
			files:   file("initfail.wasm", func(t testing.TB) []byte { return guest(t, "initfail") }),
			reasons: []string{"initialize", "panic: initfail: deliberate panic in init"},
		},
		{
			file: "sidecarfield.wasm",
			files: sidecarModule("sidecarfield",
				`{"name":"sidecarfield","version":"1.0.0","endpoints":[{"method":"GET","path":"/t/sidecarfield/ok"}],"bogus":true}`),
			reasons: []string{"sidecar manifest", "sidecarfield.json", `unknown field "bogus"`},
		},
		{
			file: "sidecarversion.wasm",
			files: sidecarModule("sidecarversion",
				`{"name":"sidecarversion","version":"latest","endpoints":[{"method":"GET","path":"/t/sidecarversion/ok"}]}`),
			reasons: []string{"invalid manifest", `version "latest"`},
			named:   "sidecarversion@latest",
		},
		{
			// A non-SDK module declares its settings in its sidecar; each
			// must be a JSON scalar under a sane key.
			file: "sidecarsettings.wasm",
			files: sidecarModule("sidecarsettings",
				`{"name":"sidecarsettings","version":"1.0.0","endpoints":[{"method":"GET","path":"/t/sidecarsettings/ok"}],"settings":{"ok":1,"db":{"host":"x"},"a.b":true}}`),
			reasons: []string{"invalid manifest", `settings.db: the default is an object; a setting's default is a string, a number or a boolean`, `settings: key "a.b"`},
			named:   "sidecarsettings@1.0.0",
		},
		{
			file: "sidecarmany.wasm",
			files: sidecarModule("sidecarmany",
				`{"name":"Bad Name","version":"1","endpoints":[{"method":"GET","path":"/health"},{"method":"TRACE","path":"/x"}],"permissions":["net"]}`),
			reasons: []string{`name "Bad Name"`, `path "/health": reserved`, `method "TRACE"`, `unknown permission "net"`},
			named:   "Bad Name@1",
		},
		{
			file:    "nomemory.wasm",
			files:   file("nomemory.wasm", func(testing.TB) []byte { return memorylessModule(true) }),
			reasons: []string{"no memory"},
		},
		{
			file: "nomemorysidecar.wasm",
			files: func(testing.TB) map[string][]byte {
				return map[string][]byte{"nomemorysidecar.wasm": memorylessModule(true), "nomemorysidecar.json": sidecarFor("nomemorysidecar")}
			},
			reasons: []string{"no memory"},
			named:   "nomemorysidecar@1.0.0",
		},
		{
			// Invalid on its own: it names the two globals the interrupt
			// instrumentation adds. Instrumented, it would own the host's
			// interrupt flag and tick (see the .wat).
			file:    "stealglobals.wasm",
			files:   watModule("stealglobals", "--no-check"),
			reasons: []string{"invalid module", "global index 0 is out of range: the module has 0 globals"},
		},
		{
			// The instrumentation exports the start function for the host
			// alone: no endpoint may call it.
			file: "startnop.wasm",
			files: func(t testing.TB) map[string][]byte {
				return map[string][]byte{
					"startnop.wasm": testutil.Wat(t, "testdata/startnop.wat"),
					"startnop.json": []byte(`{"name":"startnop","version":"1.0.0","endpoints":[{"method":"GET","path":"/t/startnop/ok","export":"neuron.start"}]}`),
				}
			},
			reasons: []string{`the module has no export "neuron.start"`},
			named:   "startnop@1.0.0",
		},
		{
			file:    "starttrap.wasm",
			files:   watModule("starttrap"),
			reasons: []string{"start function", "unreachable"},
			named:   "starttrap@1.0.0",
		},
		{
			file: "sidecarexport.wasm",
			files: sidecarModule("sidecarexport",
				`{"name":"sidecarexport","version":"1.0.0","endpoints":[{"method":"GET","path":"/t/sidecarexport/ok","export":"nope"}]}`),
			reasons: []string{`the module has no export "nope"`},
			named:   "sidecarexport@1.0.0",
		},
	}, budgetModules()...)
}

// memorylessModule is a hand-assembled module with every export the ABI
// asks for and no memory for the host to read or write. With simd, its
// handler holds a SIMD instruction, which internal/interrupt does not
// instrument, so that the module reaches the host as it is.
func memorylessModule(simd bool) []byte {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	handle := testutil.I64Const(int64(abi.Pack(16, 12)))
	if simd {
		handle = append(append([]byte{0xfd, 0x0c}, make([]byte, 16)...), append([]byte{0x1a}, handle...)...) // v128.const 0; drop
	}
	return testutil.AssembleModule(-1,
		testutil.WasmFunc{Export: abi.ExportABIVersion, Results: []api.ValueType{i32}, Body: testutil.I32Const(abi.Version)},
		testutil.WasmFunc{Export: abi.ExportAlloc, Params: []api.ValueType{i32}, Results: []api.ValueType{i32}, Body: testutil.I32Const(16)},
		testutil.WasmFunc{Export: abi.ExportManifest, Results: []api.ValueType{i64}, Body: testutil.I64Const(int64(abi.Pack(16, 2)))},
		testutil.WasmFunc{Export: abi.DefaultHandlerExport, Params: []api.ValueType{i32, i32}, Results: []api.ValueType{i64}, Body: handle},
	)
}

// watModule is the processor testdata/NAME.wat, assembled with flags,
// with a sidecar manifest (sidecarFor).
func watModule(name string, flags ...string) func(t testing.TB) map[string][]byte {
	return func(t testing.TB) map[string][]byte {
		return map[string][]byte{
			name + ".wasm": testutil.Wat(t, "testdata/"+name+".wat", flags...),
			name + ".json": sidecarFor(name),
		}
	}
}

// sidecarFor is a valid sidecar manifest for processor name with one
// endpoint, GET /t/NAME/ok.
func sidecarFor(name string) []byte {
	return []byte(`{"name":"` + name + `","version":"1.0.0","endpoints":[{"method":"GET","path":"/t/` + name + `/ok"}]}`)
}

func TestLoadDir_RefusesBadModules(t *testing.T) {
	files := guests(t, "echo", "nomanifest")
	bad := badModules()
	for _, m := range bad {
		for name, b := range m.files(t) {
			files[name] = b
		}
	}
	// dupe claims GET /t/echo/{id}; as zdupe.wasm it loads after echo.wasm.
	files["zdupe.wasm"] = guest(t, "dupe")
	files[".hidden.wasm"] = []byte("skipped: hidden")
	files["README.txt"] = []byte("skipped: not .wasm")
	bad = append(bad, badModule{file: "zdupe.wasm", reasons: []string{
		"GET /t/echo/{id} is already served by echo@1.0.0", "processor dupe@1.0.0", "is rejected",
	}, named: "dupe@1.0.0"})

	e := startEnv(t, runtime.Options{}, files)

	refused := map[string]string{} // file → reason
	for _, ev := range e.events.ofType(runtime.EventPluginRejected) {
		d := eventData(t, ev)
		refused[d["file"]] = d["reason"]
	}
	for _, m := range bad {
		e.run(t, m.file, func(t *testing.T, e *env) {
			reason, ok := refused[m.file]
			if !ok {
				t.Fatalf("no %s event for %s", runtime.EventPluginRejected, m.file)
			}
			for _, want := range m.reasons {
				if !strings.Contains(reason, want) {
					t.Errorf("reason %q does not contain %q", reason, want)
				}
			}
			plugin, version, _ := strings.Cut(m.named, "@")
			if logged := e.logs.find("processor rejected", "file", m.file, "reason", reason, "plugin", plugin, "version", version); len(logged) != 1 {
				t.Errorf("logged %d \"processor rejected\" records for %s with its reason and processor %q, want 1", len(logged), m.file, m.named)
			}
		})
	}
	if len(refused) != len(bad) {
		t.Errorf("refused %d files, want %d: %v", len(refused), len(bad), refused)
	}
	if got := e.mustMetric("neuron_plugins_rejected_total"); got != float64(len(bad)) {
		t.Errorf("neuron_plugins_rejected_total = %v, want %d", got, len(bad))
	}
	if ev := e.events.ofType(runtime.EventPluginRejected); ev[len(ev)-1].Plugin != "dupe" || ev[len(ev)-1].Version != "1.0.0" {
		t.Errorf("the collision's event names %s@%s, want dupe@1.0.0", ev[len(ev)-1].Plugin, ev[len(ev)-1].Version)
	}

	e.run(t, "the others serve", func(t *testing.T, e *env) {
		var loaded []string
		for _, ev := range e.events.ofType(runtime.EventPluginLoaded) {
			loaded = append(loaded, ev.Plugin+"@"+ev.Version)
		}
		if want := []string{"echo@1.0.0", "nomanifest@1.0.0"}; !slices.Equal(loaded, want) {
			t.Errorf("%s events for %q, want %q", runtime.EventPluginLoaded, loaded, want)
		}
		if got := decodeEcho(t, e.get("/t/echo/1")); got.Route != "/t/echo/{id}" {
			t.Errorf("echo answered route %q", got.Route)
		}
		r := e.get("/t/nomanifest/ok")
		if r.status != http.StatusOK || string(r.body) != "ok" || r.header.Get(runtime.HeaderPlugin) != "nomanifest@1.0.0" {
			t.Errorf("/t/nomanifest/ok: status %d body %q plugin %q", r.status, r.body, r.header.Get(runtime.HeaderPlugin))
		}
		if r := e.get("/t/dupe/ok"); r.status != http.StatusNotFound {
			t.Errorf("/t/dupe/ok of the refused dupe: status %d, want 404", r.status)
		}
		if got := len(e.rt.Processors()); got != 2 {
			t.Errorf("Processors() has %d entries, want 2", got)
		}
	})
}

// The earlier file in sorted order wins a route collision, whatever the
// processors' names.
func TestLoadDir_CollisionRefusesLaterFile(t *testing.T) {
	e := startEnv(t, runtime.Options{}, guests(t, "dupe", "echo"))
	ev := e.events.ofType(runtime.EventPluginRejected)
	if len(ev) != 1 || ev[0].Plugin != "echo" {
		t.Fatalf("refused %+v, want echo only", ev)
	}
	d := eventData(t, ev[0])
	for _, want := range []string{"already served by dupe@1.0.0", "dupe.wasm", "processor echo@1.0.0", "echo.wasm"} {
		if !strings.Contains(d["reason"], want) {
			t.Errorf("reason %q does not contain %q", d["reason"], want)
		}
	}
	r := e.get("/t/echo/1")
	if r.status != http.StatusOK || string(r.body) != "ok" || r.header.Get(runtime.HeaderPlugin) != "dupe@1.0.0" {
		t.Errorf("/t/echo/1: status %d body %q plugin %q; want dupe's 200 ok", r.status, r.body, r.header.Get(runtime.HeaderPlugin))
	}
}

// A module without memory never brings the host down, whether or not it
// uses instructions the interrupt instrumentation knows (it instruments no
// module without a memory, SIMD or not): it is refused, or it loads and its
// calls fail as ABI violations.
func TestLoadDir_ModuleWithoutMemory(t *testing.T) {
	for _, simd := range []bool{false, true} {
		t.Run(fmt.Sprintf("simd=%v", simd), func(t *testing.T) {
			in, err := runtime.Inspect(context.Background(), writeTemp(t, "m.wasm", memorylessModule(simd)), runtime.Options{CacheDir: cacheDir})
			if err == nil {
				t.Fatalf("Inspect = %+v, want an error", in)
			}
			e := startEnv(t, runtime.Options{}, map[string][]byte{
				"plain.wasm": memorylessModule(simd),
				"side.wasm":  memorylessModule(simd), "side.json": sidecarFor("side"),
			})
			for _, ev := range e.events.ofType(runtime.EventPluginRejected) {
				t.Logf("refused %s: %s", eventData(t, ev)["file"], eventData(t, ev)["reason"])
			}
			if len(e.rt.Processors()) == 0 {
				return
			}
			r := e.get("/t/side/ok")
			if r.status != http.StatusBadGateway || r.apiError(t).Code != runtime.CodeABIViolation {
				t.Errorf("GET /t/side/ok: %d %s; want 502 %s", r.status, r.body, runtime.CodeABIViolation)
			}
		})
	}
}

// writeTemp writes b to a file name in a fresh directory and returns its path.
func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadDir_MissingDirectory(t *testing.T) {
	e := newEnv(t, runtime.Options{}, nil)
	if err := os.Remove(e.dir); err != nil {
		t.Fatal(err)
	}
	err := e.rt.LoadDir(context.Background())
	if err == nil || !strings.Contains(err.Error(), "plugins directory") {
		t.Fatalf("LoadDir of a missing directory: %v, want a plugins directory error", err)
	}
	if e.rt.Ready() {
		t.Error("Ready() after a failed LoadDir")
	}
}

func TestInspect(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(files map[string][]byte) {
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(guests(t, "echo", "nomanifest"))

	t.Run("echo", func(t *testing.T) {
		path := filepath.Join(dir, "echo.wasm")
		in, err := runtime.Inspect(ctx, path, runtime.Options{CacheDir: cacheDir})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		sum := sha256.Sum256(b)
		if in.Digest != hex.EncodeToString(sum[:]) || in.Size != len(b) || in.Path != path {
			t.Errorf("digest %s size %d path %s; want %x %d %s", in.Digest, in.Size, in.Path, sum, len(b), path)
		}
		if in.ABI != abi.Version || in.Manifest.Name != "echo" || in.Manifest.Version != "1.0.0" || len(in.Manifest.Endpoints) != 5 {
			t.Errorf("ABI %d manifest %+v", in.ABI, in.Manifest)
		}
		if in.ManifestSource != "export "+abi.ExportManifest {
			t.Errorf("ManifestSource = %q", in.ManifestSource)
		}
		for _, ex := range []string{abi.DefaultHandlerExport, abi.ExportAlloc, abi.ExportABIVersion, abi.ExportManifest, abi.ExportInitialize} {
			if !slices.Contains(in.Exports, ex) {
				t.Errorf("exports %q lack %s", in.Exports, ex)
			}
		}
		for _, fn := range []string{abi.FuncLog, abi.FuncConfig, abi.FuncMetricAdd, abi.FuncEventEmit} {
			if !slices.Contains(in.Imports, abi.ImportModule+"."+fn) {
				t.Errorf("imports %q lack %s.%s", in.Imports, abi.ImportModule, fn)
			}
		}
		if in.Limits != limits.Default() {
			t.Errorf("Limits = %+v, want the defaults %+v", in.Limits, limits.Default())
		}
	})

	t.Run("sidecar", func(t *testing.T) {
		path := filepath.Join(dir, "nomanifest.wasm")
		in, err := runtime.Inspect(ctx, path, runtime.Options{CacheDir: cacheDir})
		if err != nil {
			t.Fatal(err)
		}
		if in.ManifestSource != filepath.Join(dir, "nomanifest.json") || in.Manifest.Name != "nomanifest" {
			t.Errorf("ManifestSource %q manifest %+v; want the sidecar's", in.ManifestSource, in.Manifest)
		}
		if slices.Contains(in.Exports, abi.ExportManifest) {
			t.Errorf("exports %q include %s", in.Exports, abi.ExportManifest)
		}
	})

	for _, m := range badModules() {
		t.Run(m.file, func(t *testing.T) {
			write(m.files(t))
			in, err := runtime.Inspect(ctx, filepath.Join(dir, m.file), runtime.Options{CacheDir: cacheDir})
			if err == nil {
				t.Fatalf("Inspect = %+v, want an error", in)
			}
			if !strings.HasPrefix(err.Error(), m.file+": ") {
				t.Errorf("error %q does not start with the file name", err)
			}
			for _, want := range m.reasons {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		_, err := runtime.Inspect(ctx, filepath.Join(dir, "absent.wasm"), runtime.Options{CacheDir: cacheDir})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Inspect of a missing file: %v, want a not-exist error", err)
		}
	})
}
