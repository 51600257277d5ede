package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/empirefederation/neuron/runtime"
)

// Files of Options.SourcesDir go through the same swap path as those of
// the plugins directory: loaded and swapped in (X-Neuron-Plugin names
// them), a bad one rejected while the version it would replace keeps
// serving, a replaced one archived for Rollback. A SourcesDir that does
// not exist yet holds nothing.
func TestSync_SourcesDir(t *testing.T) {
	sources := filepath.Join(t.TempDir(), "sources")
	e := startEnv(t, runtime.Options{SourcesDir: sources}, guests(t, "hold"))
	if got := ids(e.rt.Processors()); !slices.Equal(got, []string{"hold@1.0.0"}) {
		t.Fatalf("loaded %v with no sources directory, want hold@1.0.0 alone", got)
	}
	if err := os.Mkdir(sources, 0o755); err != nil {
		t.Fatal(err)
	}
	pull := func(files map[string][]byte) {
		t.Helper()
		for name, b := range files {
			tmp := filepath.Join(sources, ".tmp-"+name)
			if err := os.WriteFile(tmp, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(sources, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	v1, v2 := guestBuild(t, "echo", "1.0.0", "a"), guestBuild(t, "echo", "1.1.0", "b")

	e.run(t, "a pulled file loads", func(t *testing.T, e *env) {
		pull(v1.files("src"))
		if ch := e.sync(); !slices.Equal(ids(ch.Loaded), []string{"echo@1.0.0"}) {
			t.Fatalf("Sync = %s, want echo@1.0.0 loaded", summary(ch))
		}
		if got := e.servedBy("/t/echo/1"); got != "echo@1.0.0" {
			t.Errorf("X-Neuron-Plugin %q, want echo@1.0.0", got)
		}
		if p := e.serving("echo"); filepath.Dir(p.File) != sources {
			t.Errorf("echo's file %s, want one of %s", p.File, sources)
		}
	})
	e.run(t, "a bad pulled file is rejected, the version serving stays", func(t *testing.T, e *env) {
		pull(map[string][]byte{"src.wasm": []byte("not a module")})
		ch := e.sync()
		if len(ch.Rejected) != 1 || filepath.Dir(ch.Rejected[0].File) != sources {
			t.Fatalf("Sync = %s, want src.wasm of the sources directory rejected", summary(ch))
		}
		if got := e.servedBy("/t/echo/1"); got != "echo@1.0.0" {
			t.Errorf("X-Neuron-Plugin %q, want echo@1.0.0 still", got)
		}
	})
	e.run(t, "a moved pull swaps, and rolls back from the archive", func(t *testing.T, e *env) {
		pull(v2.files("src"))
		if ch := e.sync(); !slices.Equal(ids(ch.Swapped), []string{"echo@1.1.0"}) {
			t.Fatalf("Sync = %s, want echo@1.1.0 swapped in", summary(ch))
		}
		if got := e.servedBy("/t/echo/1"); got != "echo@1.1.0" {
			t.Errorf("X-Neuron-Plugin %q, want echo@1.1.0", got)
		}
		from, to, err := e.rt.Rollback(context.Background(), "echo")
		if err != nil || from.Version != "1.1.0" || to.Version != "1.0.0" {
			t.Fatalf("Rollback = %s → %s, %v; want 1.1.0 → 1.0.0", describe(from), describe(to), err)
		}
		if got := e.servedBy("/t/echo/1"); got != "echo@1.0.0" {
			t.Errorf("X-Neuron-Plugin %q after the rollback, want echo@1.0.0", got)
		}
		e.settled()
	})
}
