package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/internal/agent"
	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// verdictCase is a processor file (with its sidecar, if any) and the
// configuration it is checked with.
type verdictCase struct {
	name  string
	files func(t *testing.T) map[string][]byte // by file name; the first .wasm is checked
	env   []string                             // NAME=value
	yaml  string                               // the configuration file, if any
	// reason is a substring of the refusal both must give; "" for a
	// file both accept.
	reason string
}

// repoFile reads a file of the repository.
func repoFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// built is the guest in repository directory dir, built.
func built(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(testutil.BuildWasm(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withSidecar is the guest of runtime/testdata/guests/NAME, built, with the
// sidecar manifest given.
func withSidecar(guest, manifest string) func(t *testing.T) map[string][]byte {
	return func(t *testing.T) map[string][]byte {
		return map[string][]byte{"p.wasm": built(t, "runtime/testdata/guests/"+guest), "p.json": []byte(manifest)}
	}
}

// guestFile is the guest of runtime/testdata/guests/NAME, built.
func guestFile(name string) func(t *testing.T) map[string][]byte {
	return func(t *testing.T) map[string][]byte {
		return map[string][]byte{"p.wasm": built(t, "runtime/testdata/guests/"+name)}
	}
}

// watFile is the module runtime/testdata/NAME.wat, with manifest as its
// sidecar when not "".
func watFile(name, manifest string, flags ...string) func(t *testing.T) map[string][]byte {
	return func(t *testing.T) map[string][]byte {
		files := map[string][]byte{"p.wasm": testutil.Wat(t, filepath.Join(testutil.RepoRoot(t), "runtime/testdata", name+".wat"), flags...)}
		if manifest != "" {
			files["p.json"] = []byte(manifest)
		}
		return files
	}
}

// sidecarOK is a valid sidecar manifest for the nomanifest guest, with
// limits (a JSON object) when not "".
func sidecarOK(limits string) string {
	m := `{"name":"p","version":"1.0.0","endpoints":[{"method":"GET","path":"/t/p/ok"}]`
	if limits != "" {
		m += `,"limits":` + limits
	}
	return m + "}"
}

// verdictCases are every reason `neuron run` refuses a file for, on its
// own (a collision needs two), and files only the configuration accepts.
func verdictCases() []verdictCase {
	return []verdictCase{
		{name: "not wasm", files: func(*testing.T) map[string][]byte { return map[string][]byte{"p.wasm": []byte("#!/bin/sh\n")} },
			reason: "not a WebAssembly module"},
		{name: "truncated", files: func(t *testing.T) map[string][]byte {
			return map[string][]byte{"p.wasm": built(t, "runtime/testdata/guests/echo")[:100<<10]}
		}, reason: "is the file complete?"},
		{name: "invalid module", files: watFile("stealglobals", sidecarOK(""), "--no-check"), reason: "invalid module"},
		{name: "table too big", files: watFile("bigtable", ""), reason: "module budget"},
		{name: "missing exports", files: guestFile("noexports"), reason: "missing required exports"},
		{name: "bad ABI version", files: guestFile("badabi"), reason: "ABI version 99 is not supported"},
		{name: "no manifest", files: guestFile("nomanifest"), reason: "no manifest: export neuron_manifest or put a sidecar"},
		{name: "manifest field unknown", files: withSidecar("nomanifest", `{"name":"p","version":"1.0.0","bogus":1}`),
			reason: `unknown field "bogus"`},
		{name: "manifest invalid", files: withSidecar("nomanifest", `{"name":"p","version":"latest","endpoints":[{"method":"GET","path":"/t/p/ok"}]}`),
			reason: `version "latest"`},
		{name: "duplicate route", files: withSidecar("nomanifest",
			`{"name":"p","version":"1.0.0","endpoints":[{"method":"GET","path":"/t/p/{a}"},{"method":"GET","path":"/t/p/{b}"}]}`),
			reason: "GET /t/p/{b} is declared twice"},
		{name: "endpoint export missing", files: withSidecar("nomanifest",
			`{"name":"p","version":"1.0.0","endpoints":[{"method":"GET","path":"/t/p/ok","export":"nope"}]}`),
			reason: `the module has no export "nope"`},
		{name: "memoryPages below the module's memory", files: withSidecar("nomanifest", sidecarOK(`{"memoryPages":1}`)),
			reason: "memoryPages 1 (64 KiB) is below the module's own initial memory of"},
		{name: "limits above maxLimits", files: withSidecar("nomanifest", sidecarOK(`{"poolMax":8}`)),
			yaml: "maxLimits:\n  poolMax: 4\nlimits:\n  poolMax: 2\n", reason: "the manifest asks for poolMax 8, above the operator's maximum of 4"},
		{name: "within the configured maxLimits", files: withSidecar("nomanifest", sidecarOK(`{"poolMax":80}`)),
			yaml: "maxLimits:\n  poolMax: 100\n"},
		{name: "start timeout", files: func(t *testing.T) map[string][]byte {
			return map[string][]byte{"p.wasm": testutil.Wat(t, "testdata/slowinit.wat"), "p.json": repoFile(t, "cmd/neuron/testdata/slowinit.json")}
		}, env: []string{"NEURON_START_TIMEOUT=1s"}, reason: "initialize: stopped at its time limit after 1s"},
		{name: "start function traps", files: watFile("starttrap", sidecarOK("")), reason: "start function"},
		{name: "initialize fails", files: guestFile("initfail"), reason: "initfail: deliberate panic in init"},
		{name: "self-test fails", files: guestFile("selftestfail"), reason: "self-test failed"},
		{name: "permission not allowed", files: guestFile("perms"), reason: "is not allowed by the operator"},
		{name: "permissions allowed", files: guestFile("perms"), env: []string{"NEURON_ALLOW_PERMISSIONS=filesystem,environment"}},
	}
}

// `neuron plugin validate` decides what `neuron run` decides: for every
// reason run refuses a file for, validate refuses it with the very reason
// run reports, and it accepts what run loads, under the same
// configuration (file and environment).
func TestValidateDecidesAsRun(t *testing.T) {
	t.Parallel()
	for _, tc := range verdictCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, b := range tc.files(t) {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			file := filepath.Join(dir, "p.wasm")
			env := tc.env
			if tc.yaml != "" {
				cfgFile := filepath.Join(t.TempDir(), "neuron.yaml")
				if err := os.WriteFile(cfgFile, []byte(tc.yaml), 0o644); err != nil {
					t.Fatal(err)
				}
				env = append(env, "NEURON_CONFIG="+cfgFile)
			}

			runReason := runVerdict(t, dir, env)
			got := neuron(t, env, "plugin", "validate", file)
			if tc.reason == "" {
				if runReason != "" {
					t.Fatalf("run refused the file: %s", runReason)
				}
				got.want(t, "validate", exitOK, "ok: "+file+" is ")
				return
			}
			if !strings.Contains(runReason, tc.reason) {
				t.Fatalf("run's reason %q lacks %q", runReason, tc.reason)
			}
			if got.code != exitFailure || !strings.HasSuffix(got.stderr, ": "+runReason+"\n") || !strings.HasPrefix(got.stderr, "neuron plugin validate: p.wasm") {
				t.Errorf("validate: exit %d, stderr %q\nwant exit 1 and run's reason %q", got.code, got.stderr, runReason)
			}
		})
	}
}

// runVerdict loads the plugins directory dir as `neuron run` does, with
// the configuration env gives (NAME=value pairs), and returns the reason
// its one file was rejected, "" when it loaded.
func runVerdict(t *testing.T, dir string, env []string) string {
	t.Helper()
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg, err := config.Load(nil, func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	opts := agent.RuntimeOptions(cfg)
	opts.PluginsDir, opts.DataDir, opts.Logger = dir, t.TempDir(), slog.New(slog.DiscardHandler)
	rt, err := runtime.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	changes, err := rt.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case len(changes.Rejected) == 1 && len(changes.Loaded) == 0:
		return changes.Rejected[0].Reason
	case len(changes.Rejected) == 0 && len(changes.Loaded) == 1:
		return ""
	}
	t.Fatalf("run: %+v, want one file loaded or rejected", changes)
	return ""
}
