package runtime_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/runtime"
)

// Rollback to the lower version standing by in the directory: it serves at
// once, the pin holds over Syncs and a restart, and a new file releases it.
func TestRollback_ToStandbyVersion(t *testing.T) {
	data := t.TempDir()
	opts := runtime.Options{DataDir: data}
	v1, v2, v3 := guestBuild(t, "hold", "1.0.0", "a"), guestBuild(t, "hold", "1.1.0", "b"), guestBuild(t, "hold", "1.2.0", "c")
	files := v1.files("hold-a")
	for name, b := range v2.files("hold-b") {
		files[name] = b
	}
	e := startEnv(t, opts, files)
	if got := e.servedBy("/t/hold/ok"); got != "hold@1.1.0" {
		t.Fatalf("served by %s, want the highest version", got)
	}

	from, to, err := e.rt.Rollback(context.Background(), "hold")
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if from.Version != "1.1.0" || to.Version != "1.0.0" || !to.Pinned || !to.Serving || to.Digest[:12] != v1.digest12 {
		t.Fatalf("Rollback = from %s to %s, want 1.1.0 to the pinned 1.0.0", describe(from), describe(to))
	}
	e.run(t, "serves and reports", func(t *testing.T, e *env) {
		if got := e.servedBy("/t/hold/ok"); got != "hold@1.0.0" {
			t.Errorf("served by %s after the rollback", got)
		}
		rb := e.events.ofType(runtime.EventPluginRolledBack)
		if len(rb) != 1 || eventData(t, rb[0])["from"] != "hold@1.1.0" || eventData(t, rb[0])["to"] != "hold@1.0.0" {
			t.Errorf("%s events %+v", runtime.EventPluginRolledBack, rb)
		}
		if sw := e.events.ofType(runtime.EventPluginSwapped); len(sw) != 1 {
			t.Errorf("%d %s events, want 1", len(sw), runtime.EventPluginSwapped)
		}
		if ch := e.sync(); !ch.Empty() {
			t.Errorf("Sync after the rollback = %s, want nothing: the pin holds", summary(ch))
		}
	})
	e.run(t, "nothing earlier", func(t *testing.T, e *env) {
		_, _, err := e.rt.Rollback(context.Background(), "hold")
		if err == nil || !strings.Contains(err.Error(), "no earlier version") {
			t.Errorf("a second Rollback: %v, want no earlier version", err)
		}
		if got := e.servedBy("/t/hold/ok"); got != "hold@1.0.0" {
			t.Errorf("served by %s after a failed rollback", got)
		}
	})

	e = e.restart(t, opts)
	if p := e.serving("hold"); p.Version != "1.0.0" || !p.Pinned {
		t.Fatalf("after a restart hold serves %s, want the pinned 1.0.0", describe(p))
	}

	e.put(v3.files("hold-c"))
	ch := e.sync()
	if !slices.Equal(ids(ch.Swapped), []string{"hold@1.2.0"}) {
		t.Fatalf("Sync with a new file = %s, want hold@1.2.0 to take over", summary(ch))
	}
	if p := e.serving("hold"); p.Pinned {
		t.Errorf("hold %s still pinned after a new file", p.Version)
	}
	e = e.restart(t, opts)
	if p := e.serving("hold"); p.Version != "1.2.0" || p.Pinned {
		t.Errorf("after a restart hold serves %s, want 1.2.0 unpinned", describe(p))
	}
	e.settled()
}

// Rollback to an archived version after its file was replaced: it is
// opened from the archive, serves pinned across a restart, and Unpin
// brings back the file's version.
func TestRollback_ToArchivedVersion(t *testing.T) {
	data := t.TempDir()
	opts := runtime.Options{DataDir: data}
	v1, v2 := guestBuild(t, "hold", "1.0.0", "a"), guestBuild(t, "hold", "1.1.0", "b")
	e := startEnv(t, opts, v1.files("hold"))
	e.put(v2.files("hold"))
	e.sync()
	e.settled()

	_, to, err := e.rt.Rollback(context.Background(), "hold")
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	archived := filepath.Join(data, "archive", "hold", "1.0.0-"+v1.digest12+".wasm")
	if to.Version != "1.0.0" || to.File != archived || !to.Pinned {
		t.Fatalf("rolled back to %s, want the pinned 1.0.0 from %s", describe(to), archived)
	}
	if got := e.servedBy("/t/hold/ok"); got != "hold@1.0.0" {
		t.Errorf("served by %s after the rollback", got)
	}

	e = e.restart(t, opts)
	if p := e.serving("hold"); p.Version != "1.0.0" || p.File != archived {
		t.Fatalf("after a restart hold serves %s, want 1.0.0 from the archive", describe(p))
	}
	if err := e.rt.Unpin(context.Background(), "hold"); err != nil {
		t.Fatalf("Unpin: %v", err)
	}
	if got := e.servedBy("/t/hold/ok"); got != "hold@1.1.0" {
		t.Errorf("served by %s after Unpin, want the file's 1.1.0", got)
	}
	if got := ids(e.rt.Processors()); !slices.Equal(got, []string{"hold@1.1.0"}) {
		t.Errorf("loaded %v after Unpin, want the archived version gone", got)
	}
	e.settled()

	e.run(t, "a broken archived version fails the rollback", func(t *testing.T, e *env) {
		if err := os.WriteFile(archived, []byte("\x00asm broken"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := e.rt.Rollback(context.Background(), "hold")
		if err == nil || !strings.Contains(err.Error(), "does not load") {
			t.Errorf("Rollback to a broken archive: %v, want an error", err)
		}
		if got := e.servedBy("/t/hold/ok"); got != "hold@1.1.0" {
			t.Errorf("served by %s after a failed rollback", got)
		}
		e.settled()
	})
}

// A pinned version whose file is removed keeps serving, and is archived
// so that a restart serves it again.
func TestRollback_PinnedFileRemoved(t *testing.T) {
	data := t.TempDir()
	opts := runtime.Options{DataDir: data}
	v1, v2 := guestBuild(t, "hold", "1.0.0", "a"), guestBuild(t, "hold", "1.1.0", "b")
	files := v1.files("hold-a")
	for name, b := range v2.files("hold-b") {
		files[name] = b
	}
	e := startEnv(t, opts, files)
	if _, _, err := e.rt.Rollback(context.Background(), "hold"); err != nil {
		t.Fatal(err)
	}
	e.remove("hold-a.wasm", "hold-a.json")
	if ch := e.sync(); !ch.Empty() {
		t.Errorf("Sync after the pinned file left = %s, want nothing: the pinned version keeps serving", summary(ch))
	}
	if got := e.servedBy("/t/hold/ok"); got != "hold@1.0.0" {
		t.Errorf("served by %s", got)
	}
	e = e.restart(t, opts)
	if p := e.serving("hold"); p.Version != "1.0.0" || !p.Pinned || !strings.HasPrefix(p.File, filepath.Join(data, "archive")) {
		t.Errorf("after a restart hold serves %s, want the pinned 1.0.0 from the archive", describe(p))
	}
	e.settled()
}

// Unload stops serving a processor until Reload, across Syncs and a
// restart; a new file of it loads it again.
func TestUnloadReload(t *testing.T) {
	data := t.TempDir()
	opts := runtime.Options{DataDir: data}
	e := startEnv(t, opts, guests(t, "echo", "hold"))
	if err := e.rt.Unload(context.Background(), "echo"); err != nil {
		t.Fatalf("Unload: %v", err)
	}
	check := func(t *testing.T, e *env, what string) {
		t.Helper()
		if r := e.get("/t/echo/1"); r.status != http.StatusNotFound {
			t.Errorf("%s: echo answered %d, want 404", what, r.status)
		}
		if got := ids(e.rt.Processors()); !slices.Equal(got, []string{"hold@1.0.0"}) {
			t.Errorf("%s: loaded %v, want hold only", what, got)
		}
	}
	check(t, e, "after Unload")
	if ev := e.events.ofType(runtime.EventPluginUnloaded); len(ev) != 1 || eventData(t, ev[0])["reason"] != "unloaded by request" {
		t.Errorf("%s events %+v", runtime.EventPluginUnloaded, ev)
	}
	if ch := e.sync(); !ch.Empty() {
		t.Errorf("Sync after Unload = %s, want nothing", summary(ch))
	}
	e = e.restart(t, opts)
	check(t, e, "after a restart")
	if ev := e.events.ofType(runtime.EventPluginRejected); len(ev) != 0 {
		t.Errorf("rejections after the restart: %+v", ev)
	}

	ch, err := e.rt.Reload(context.Background(), "echo")
	if err != nil || !slices.Equal(ids(ch.Loaded), []string{"echo@1.0.0"}) {
		t.Fatalf("Reload(echo) = %s, %v; want echo loaded", summary(ch), err)
	}
	if got := e.servedBy("/t/echo/1"); got != "echo@1.0.0" {
		t.Errorf("served by %s after Reload", got)
	}

	e.run(t, "a new file ends the unload", func(t *testing.T, e *env) {
		if err := e.rt.Unload(context.Background(), "echo"); err != nil {
			t.Fatal(err)
		}
		e.put(map[string][]byte{"echo.wasm": retag(guest(t, "echo"), "new")})
		if ch := e.sync(); !slices.Equal(ids(ch.Loaded), []string{"echo@1.0.0"}) {
			t.Errorf("Sync with a new echo = %s, want it loaded", summary(ch))
		}
		if got := e.servedBy("/t/echo/1"); got != "echo@1.0.0" {
			t.Errorf("served by %s", got)
		}
	})
	e.run(t, "Reload of an unchanged file opens it again", func(t *testing.T, e *env) {
		workers := e.workerIDs("hold")
		ch, err := e.rt.Reload(context.Background(), "hold")
		if err != nil || !slices.Equal(ids(ch.Swapped), []string{"hold@1.0.0"}) || !slices.Equal(ids(ch.Unloaded), []string{"hold@1.0.0"}) {
			t.Fatalf("Reload(hold) = %s, %v; want hold@1.0.0 swapped for itself", summary(ch), err)
		}
		if got := e.workerIDs("hold"); slices.ContainsFunc(got, func(id string) bool { return slices.Contains(workers, id) }) {
			t.Errorf("workers %v after Reload share instances with %v", got, workers)
		}
		if ev := e.events.ofType(runtime.EventPluginUnloaded); eventData(t, ev[len(ev)-1])["reason"] != "reloaded" {
			t.Errorf("the last %s event says %v, want reloaded", runtime.EventPluginUnloaded, eventData(t, ev[len(ev)-1]))
		}
	})
	e.run(t, "unknown names", func(t *testing.T, e *env) {
		for name, err := range map[string]error{
			"Unload":   e.rt.Unload(context.Background(), "nope"),
			"Unpin":    e.rt.Unpin(context.Background(), "nope"),
			"Rollback": func() error { _, _, err := e.rt.Rollback(context.Background(), "nope"); return err }(),
			"Reload":   func() error { _, err := e.rt.Reload(context.Background(), "nope"); return err }(),
		} {
			if err == nil || !strings.Contains(err.Error(), "no processor of that name is loaded (loaded: echo, hold)") {
				t.Errorf("%s(nope): %v, want an error listing the loaded processors", name, err)
			}
		}
	})
	e.settled()
}

// A Reload whose file now fails its self-test keeps the version serving
// and says why.
func TestReload_Rejected(t *testing.T) {
	e := startEnv(t, runtime.Options{}, map[string][]byte{"svc.wasm": guest(t, "echo")})
	e.put(map[string][]byte{"svc.wasm": guest(t, "selftestfail"), "svc.json": []byte(
		`{"name":"echo","version":"1.0.1","endpoints":[{"method":"GET","path":"/t/echo/{id}"}]}`)})
	if ch := e.sync(); len(ch.Rejected) != 1 || ch.Rejected[0].Plugin != "echo" {
		t.Fatalf("Sync = %s, want the failing echo@1.0.1 rejected", summary(ch))
	}
	ch, err := e.rt.Reload(context.Background(), "echo")
	if err == nil || !strings.Contains(err.Error(), "database unreachable") || len(ch.Rejected) != 1 {
		t.Errorf("Reload(echo) = %s, %v; want the self-test failure again", summary(ch), err)
	}
	if p := e.serving("echo"); p.Version != "1.0.0" {
		t.Errorf("echo serves %s, want 1.0.0 kept", p.Version)
	}
	e.settled()
}

// Drain answers every processor call with 503 draining until Resume; the
// neuron's own routes and unknown paths answer as usual.
func TestDrainResume(t *testing.T) {
	e := startEnv(t, runtime.Options{}, guests(t, "echo"))
	e.rt.Drain()
	if !e.rt.Draining() {
		t.Fatal("Draining() = false after Drain")
	}
	r := e.get("/t/echo/1")
	if r.status != http.StatusServiceUnavailable || r.apiError(t).Code != runtime.CodeDraining || r.header.Get("Retry-After") == "" {
		t.Errorf("while draining: %d %s (Retry-After %q), want 503 %s", r.status, r.body, r.header.Get("Retry-After"), runtime.CodeDraining)
	}
	for path, want := range map[string]int{"/health": http.StatusOK, "/metrics": http.StatusOK, "/nothing": http.StatusNotFound} {
		if r := e.get(path); r.status != want {
			t.Errorf("GET %s while draining: %d, want %d", path, r.status, want)
		}
	}
	if v := e.mustMetric("neuron_request_errors_total", "plugin", "echo", "code", runtime.CodeDraining); v != 1 {
		t.Errorf("draining errors counted %v, want 1", v)
	}
	e.rt.Resume()
	if e.rt.Draining() {
		t.Error("Draining() = true after Resume")
	}
	if got := e.servedBy("/t/echo/1"); got != "echo@1.0.0" {
		t.Errorf("after Resume served by %s", got)
	}
}

// The archive keeps the KeepVersions most recently replaced versions of a
// processor, whole.
func TestArchive_KeepsVersions(t *testing.T) {
	data := t.TempDir()
	var builds []build
	for i, v := range []string{"1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4"} {
		builds = append(builds, guestBuild(t, "hold", v, string(rune('a'+i))))
	}
	e := startEnv(t, runtime.Options{DataDir: data, KeepVersions: 2}, builds[0].files("hold"))
	for _, b := range builds[1:] {
		e.put(b.files("hold"))
		if ch := e.sync(); len(ch.Swapped) != 1 {
			t.Fatalf("Sync = %s, want a swap", summary(ch))
		}
	}
	e.settled()
	dir := filepath.Join(data, "archive", "hold")
	var got []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range entries {
		got = append(got, de.Name())
	}
	want := []string{"1.0.2-" + builds[2].digest12 + ".json", "1.0.2-" + builds[2].digest12 + ".wasm",
		"1.0.3-" + builds[3].digest12 + ".json", "1.0.3-" + builds[3].digest12 + ".wasm"}
	if !slices.Equal(got, want) {
		t.Errorf("archive holds %v, want the two latest replaced versions %v", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(dir, want[3])); err != nil || !slices.Equal(b, builds[3].wasm) {
		t.Errorf("archived 1.0.3: %d bytes, %v; want the module as dropped", len(b), err)
	}
	if got := e.servedBy("/t/hold/ok"); got != "hold@1.0.4" {
		t.Errorf("served by %s", got)
	}
}
