package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/empirefederation/neuron/internal/testutil"
	neuron "github.com/empirefederation/neuron/runtime"
)

// retag returns module b with a custom section holding tag appended: the
// same code under another sha256, as a rebuild of the same source gives.
func retag(b []byte, tag string) []byte {
	const name = "neuron-test-build"
	payload := append(append(uleb(uint32(len(name))), name...), tag...)
	out := append([]byte{}, b...)
	out = append(out, 0x00) // custom section
	out = append(out, uleb(uint32(len(payload)))...)
	return append(out, payload...)
}

func uleb(v uint32) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// build is one build of a processor: a module and its sidecar manifest.
type build struct {
	wasm, sidecar []byte
	digest12      string
}

// guestBuild returns test guest name as processor version version, tagged
// tag: its module retagged, with a sidecar manifest that is the guest's own
// manifest at that version. Two tags are two builds: same code, different
// digests.
func guestBuild(t testing.TB, name, version, tag string) build {
	t.Helper()
	in, err := neuron.Inspect(context.Background(), testutil.BuildWasm(t, guestsDir+"/"+name), neuron.Options{CacheDir: cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	m := in.Manifest
	m.Version = version
	side, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	b := build{wasm: retag(guest(t, name), tag), sidecar: side}
	b.digest12 = digest12(b.wasm)
	return b
}

// files names the build's files FILE.wasm and FILE.json.
func (b build) files(file string) map[string][]byte {
	return map[string][]byte{file + ".wasm": b.wasm, file + ".json": b.sidecar}
}

// put writes files into the plugins directory, each through a temporary
// file and a rename, as a deploy tool would.
func (e *env) put(files map[string][]byte) {
	e.t.Helper()
	for name, b := range files {
		tmp := filepath.Join(e.dir, ".tmp-"+name)
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			e.t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(e.dir, name)); err != nil {
			e.t.Fatal(err)
		}
	}
}

// remove deletes files of the plugins directory.
func (e *env) remove(names ...string) {
	e.t.Helper()
	for _, name := range names {
		if err := os.Remove(filepath.Join(e.dir, name)); err != nil {
			e.t.Fatal(err)
		}
	}
}

// sync runs Sync on another goroutine and returns its Changes. It fails
// the test if Sync errs, or has not returned within waitLimit: a swap must
// never wait for the drain of a call held in the test.
func (e *env) sync() neuron.Changes {
	e.t.Helper()
	type result struct {
		ch  neuron.Changes
		err error
	}
	done := make(chan result, 1)
	go func() {
		ch, err := e.rt.Sync(context.Background())
		done <- result{ch, err}
	}()
	var r result
	testutil.Eventually(e.t, waitLimit, "Sync to return", func() bool {
		select {
		case r = <-done:
			return true
		default:
			return false
		}
	})
	if r.err != nil {
		e.t.Fatalf("Sync: %v", r.err)
	}
	return r.ch
}

// servedBy returns the X-Neuron-Plugin header of GET path, failing the
// test unless the answer is 200.
func (e *env) servedBy(path string) string {
	e.t.Helper()
	r := e.get(path)
	if r.status != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	return r.header.Get(neuron.HeaderPlugin)
}

// settled waits until no processor version drains any more, then checks
// that the open wazero runtimes are exactly those of the processors
// loaded: every version a swap replaced was closed.
func (e *env) settled() {
	e.t.Helper()
	testutil.Eventually(e.t, waitLimit, "the replaced versions to close", func() bool {
		return neuron.DrainingProcessors(e.rt) == 0
	})
	if open, loaded := neuron.OpenWazeroRuntimes(e.rt), len(e.rt.Processors()); open != int64(loaded) {
		e.t.Errorf("%d wazero runtimes open for %d processors loaded", open, loaded)
	}
}

// ids returns NAME@VERSION of each processor.
func ids(infos []neuron.ProcessorInfo) []string {
	out := []string{}
	for _, p := range infos {
		out = append(out, p.Name+"@"+p.Version)
	}
	return out
}

// serving returns the processor version serving name, failing the test if
// none does.
func (e *env) serving(name string) neuron.ProcessorInfo {
	e.t.Helper()
	for _, p := range e.rt.Processors() {
		if p.Name == name && p.Serving {
			return p
		}
	}
	e.t.Fatalf("no version of %s serves; loaded: %v", name, ids(e.rt.Processors()))
	return neuron.ProcessorInfo{}
}

// restart closes e's runtime and starts a new one on the same plugins
// directory with opts (whose DataDir should be e's), as a neuron restart.
func (e *env) restart(t *testing.T, opts neuron.Options) *env {
	t.Helper()
	if err := e.rt.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	e2 := newEnvIn(t, opts, e.dir)
	if err := e2.rt.LoadDir(context.Background()); err != nil {
		t.Fatalf("LoadDir after the restart: %v", err)
	}
	return e2
}

// goroutines returns the number of goroutines now.
func goroutines() int { return runtime.NumGoroutine() }

// summary describes what changed in one line, for failure messages.
func summary(ch neuron.Changes) string {
	var rejected []string
	for _, r := range ch.Rejected {
		rejected = append(rejected, filepath.Base(r.File)+": "+r.Reason)
	}
	return fmt.Sprintf("loaded %v, swapped %v, unloaded %v, rejected %q", ids(ch.Loaded), ids(ch.Swapped), ids(ch.Unloaded), rejected)
}

// describe names a processor version and its state, for failure messages.
func describe(p neuron.ProcessorInfo) string {
	return fmt.Sprintf("%s@%s (%.12s, serving %v, pinned %v, file %s)", p.Name, p.Version, p.Digest, p.Serving, p.Pinned, p.File)
}
