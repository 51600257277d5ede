package sources_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/empirefederation/neuron/internal/oci"
	"github.com/empirefederation/neuron/internal/signature"
	"github.com/empirefederation/neuron/internal/sources"
	"github.com/empirefederation/neuron/internal/testutil"
)

// module returns the bytes of the example processor built from pkg
// (relative to the repository root).
func module(t *testing.T, pkg string) []byte {
	t.Helper()
	b, err := os.ReadFile(testutil.BuildWasm(t, pkg))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// processors are two real processors, pushed under one tag in turn.
func processors(t *testing.T) (hello, dp oci.Processor) {
	hello = oci.Processor{Module: module(t, "examples/hello"), Sidecar: []byte(`{"name": "hello", "version": "1.0.0"}`), Name: "hello", Version: "1.0.0"}
	dp = oci.Processor{Module: module(t, "examples/dataprocessor/v1.0.0"), Name: "data-processor", Version: "1.0.0"}
	return hello, dp
}

// events records the store's events.
type events struct {
	mu   sync.Mutex
	list []string // TYPE ref
}

func (e *events) record(typ string, data map[string]string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, typ+" "+data["ref"])
}

func (e *events) count(typ string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, s := range e.list {
		if strings.HasPrefix(s, typ+" ") {
			n++
		}
	}
	return n
}

// fixture is a store in a fresh directory pulling from a fresh registry.
type fixture struct {
	reg    *testutil.RegistryServer
	client *oci.Client
	dir    string
	store  *sources.Store
	events *events
}

func newFixture(t *testing.T, v *signature.Verifier) *fixture {
	t.Helper()
	f := &fixture{reg: testutil.StartRegistry(t), client: &oci.Client{DockerConfig: filepath.Join(t.TempDir(), "config.json")},
		dir: filepath.Join(t.TempDir(), "sources"), events: &events{}}
	f.store = f.open(t, v)
	return f
}

func (f *fixture) open(t *testing.T, v *signature.Verifier) *sources.Store {
	t.Helper()
	s, err := sources.Open(sources.Options{Dir: f.dir, Registry: f.client, Verifier: v, Events: f.events.record})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func (f *fixture) push(t *testing.T, ref string, p oci.Processor) string {
	t.Helper()
	d, err := f.client.Push(context.Background(), ref, p)
	if err != nil {
		t.Fatalf("Push %s: %v", ref, err)
	}
	return d
}

func (f *fixture) fetch(t *testing.T, ref string, want sources.Want) sources.Result {
	t.Helper()
	r, err := f.store.Fetch(context.Background(), ref, want)
	if err != nil {
		t.Fatalf("Fetch %s: %v", ref, err)
	}
	return r
}

// files returns the store directory's files and their contents.
func (f *fixture) files(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(f.dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestFetch_ByTag(t *testing.T) {
	f := newFixture(t, nil)
	hello, _ := processors(t)
	ref := f.reg.Host + "/proc/hello:v1"
	digest := f.push(t, ref, hello)

	r := f.fetch(t, ref, sources.Want{Origin: sources.Declared})
	if !r.Changed || r.Digest != digest || r.Ref != ref || r.Origin != sources.Declared {
		t.Fatalf("Fetch = %+v, want %s pulled, declared", r, digest)
	}
	if b, err := os.ReadFile(f.store.File(r.Entry)); err != nil || !bytes.Equal(b, hello.Module) {
		t.Errorf("%s holds %d bytes (%v), want the module pushed", f.store.File(r.Entry), len(b), err)
	}
	if b, err := os.ReadFile(strings.TrimSuffix(f.store.File(r.Entry), ".wasm") + ".json"); err != nil || !bytes.Equal(b, hello.Sidecar) {
		t.Errorf("sidecar %q (%v), want the one pushed", b, err)
	}
	if e, ok := f.store.RefOf(f.store.File(r.Entry)); !ok || e.Ref != ref {
		t.Errorf("RefOf(its file) = %+v, %v; want %s", e, ok, ref)
	}
	if got := f.store.Entries(); len(got) != 1 || got[0] != r.Entry {
		t.Errorf("Entries = %+v, want the one entry", got)
	}
	if n := f.events.count(sources.EventPulled); n != 1 {
		t.Errorf("%d pulled events, want 1", n)
	}

	// The tag still names the same digest: nothing is downloaded.
	blobs := f.reg.BlobsServed()
	if r := f.fetch(t, ref, sources.Want{}); r.Changed || r.Digest != digest || r.Origin != sources.Declared {
		t.Errorf("Fetch again = %+v, want nothing changed, still declared", r)
	}
	if got := f.reg.BlobsServed(); got != blobs {
		t.Errorf("%d blobs downloaded by a fetch of a digest already stored, want none", got-blobs)
	}

	// The index survives a reopen.
	if got := f.open(t, nil).Entries(); len(got) != 1 || got[0] != r.Entry {
		t.Errorf("after a reopen Entries = %+v, want %+v", got, r.Entry)
	}

	// A module removed behind the store's back is pulled again.
	if err := os.Remove(f.store.File(r.Entry)); err != nil {
		t.Fatal(err)
	}
	if r := f.fetch(t, ref, sources.Want{}); !r.Changed {
		t.Errorf("Fetch with the module file gone = %+v, want it pulled again", r)
	}
	if _, err := os.Stat(f.store.File(r.Entry)); err != nil {
		t.Errorf("module not written back: %v", err)
	}
}

func TestFetch_ByDigest(t *testing.T) {
	f := newFixture(t, nil)
	hello, _ := processors(t)
	digest := f.push(t, f.reg.Host+"/proc/hello:v1", hello)
	ref := f.reg.Host + "/proc/hello@" + digest
	if r := f.fetch(t, ref, sources.Want{SHA256: sha(hello.Module)}); !r.Changed || r.Digest != digest {
		t.Fatalf("Fetch = %+v, want %s", r, digest)
	}
	// A pinned reference stored needs no registry at all.
	f.reg.Close()
	if r := f.fetch(t, ref, sources.Want{}); r.Changed || r.Digest != digest {
		t.Errorf("Fetch with the registry down = %+v, want the stored %s", r, digest)
	}
}

func TestFetch_Refused(t *testing.T) {
	f := newFixture(t, nil)
	hello, _ := processors(t)
	ref := f.reg.Host + "/proc/hello:v1"
	f.push(t, ref, hello)
	f.push(t, f.reg.Host+"/proc/junk:v1", oci.Processor{Module: []byte("#!/bin/sh\necho not wasm\n"), Name: "junk", Version: "1"})
	testutil.PushArtifact(t, f.reg.Host+"/proc/thing:v1", "application/vnd.example.thing", ocispec.Descriptor{}, nil,
		map[string][]byte{"application/vnd.example.thing.layer": []byte("thing")})
	tests := []struct {
		name, ref string
		want      sources.Want
		wantErr   string
	}{
		{"wrong digest", f.reg.Host + "/proc/hello@sha256:" + strings.Repeat("0", 64), sources.Want{}, "pull " + f.reg.Host + "/proc/hello@sha256:"},
		{"wrong module sha256", ref, sources.Want{SHA256: strings.Repeat("0", 64)}, "sha256 mismatch: the module pulled is " + sha(hello.Module)},
		{"module not wasm", f.reg.Host + "/proc/junk:v1", sources.Want{}, "not a WebAssembly module"},
		{"artifact not a processor", f.reg.Host + "/proc/thing:v1", sources.Want{}, "is not a neuron processor"},
		{"no such tag", f.reg.Host + "/proc/hello:v9", sources.Want{}, "resolve " + f.reg.Host + "/proc/hello:v9"},
		{"bad reference", "hello:v1", sources.Want{}, "want host[:port]/repo:tag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := f.store.Fetch(context.Background(), tc.ref, tc.want)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Fetch = %+v, %v; want an error containing %q", r, err, tc.wantErr)
			}
			if got := f.files(t); len(got) != 0 {
				t.Errorf("files %v written, want none", slices.Sorted(maps.Keys(got)))
			}
		})
	}
	if n := f.events.count(sources.EventFailed); n != len(tests) {
		t.Errorf("%d failed events, want %d", n, len(tests))
	}
}

func TestFetch_MovedTag(t *testing.T) {
	f := newFixture(t, nil)
	hello, dp := processors(t)
	ref := f.reg.Host + "/proc/app:stable"
	first := f.fetchPushed(t, ref, hello)
	second := f.fetchPushed(t, ref, dp)
	if !second.Changed || second.Digest == first.Digest || second.Stem != first.Stem {
		t.Fatalf("after the tag moved Fetch = %+v, want a new digest in the same stem as %+v", second, first)
	}
	files := f.files(t)
	if files[first.Stem+".wasm"] != string(dp.Module) {
		t.Error("the module is not the one the tag moved to")
	}
	if _, ok := files[first.Stem+".json"]; ok {
		t.Error("the sidecar of the processor the tag named before is still there")
	}
	// Another tag of the same repository has files of its own.
	other := f.fetchPushed(t, f.reg.Host+"/proc/app:canary", hello)
	if other.Stem == first.Stem || len(f.store.Entries()) != 2 {
		t.Errorf("stems %s and %s, %d entries; want two tags apart", other.Stem, first.Stem, len(f.store.Entries()))
	}
}

func (f *fixture) fetchPushed(t *testing.T, ref string, p oci.Processor) sources.Result {
	t.Helper()
	f.push(t, ref, p)
	return f.fetch(t, ref, sources.Want{})
}

func TestFetch_RegistryFails(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    func(*testutil.RegistryServer)
		wantErr string
	}{
		{"down", (*testutil.RegistryServer).Close, "resolve "},
		{"answering garbage", func(r *testutil.RegistryServer) { r.Garbage(true) }, "resolve "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			hello, dp := processors(t)
			ref := f.reg.Host + "/proc/app:stable"
			stored := f.fetchPushed(t, ref, hello)
			f.push(t, ref, dp) // the tag moved, but the registry fails before the neuron sees it
			before := f.files(t)
			tc.fail(f.reg)
			for range 2 {
				r, err := f.store.Fetch(context.Background(), ref, sources.Want{})
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Fetch = %+v, %v; want an error containing %q", r, err, tc.wantErr)
				}
			}
			if !maps.Equal(f.files(t), before) {
				t.Error("the stored files changed")
			}
			if e, ok := f.store.Get(ref); !ok || e != stored.Entry {
				t.Errorf("entry %+v, %v; want still %+v", e, ok, stored.Entry)
			}
			if n := f.events.count(sources.EventFailed); n != 1 {
				t.Errorf("%d failed events for the same failure twice, want 1", n)
			}
		})
	}
}

func TestFetch_Signatures(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, signature.NewVerifier(pub))
	hello, _ := processors(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		sign    ed25519.PrivateKey
		wantErr string
	}{
		{"unsigned", nil, "the processor is not signed"},
		{"signed by another key", otherKey, "none of them a key this neuron trusts"},
		{"signed", key, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := f.reg.Host + "/proc/" + strings.ReplaceAll(tc.name, " ", "-") + ":v1"
			f.push(t, ref, hello)
			if tc.sign != nil {
				if _, err := f.client.Sign(ctx, ref, tc.sign); err != nil {
					t.Fatal(err)
				}
			}
			r, err := f.store.Fetch(ctx, ref, sources.Want{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Fetch = %+v, %v; want an error containing %q", r, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sig, err := os.ReadFile(signature.Path(f.store.File(r.Entry)))
			if err != nil {
				t.Fatalf("no signature file beside the module: %v", err)
			}
			if err := signature.NewVerifier(pub).Verify(signature.Subject{Module: r.Module, Sidecar: sha(hello.Sidecar)}, sig); err != nil {
				t.Errorf("the signature file written does not verify: %v", err)
			}
		})
	}
	if got := len(f.store.Entries()); got != 1 {
		t.Errorf("%d entries, want the signed one alone", got)
	}
}

// Open puts the directory back in step with the index, as a crash leaves
// it; Prune removes the declared references no longer declared, Remove
// any.
func TestOpen_PruneRemove(t *testing.T) {
	f := newFixture(t, nil)
	hello, dp := processors(t)
	declared := f.reg.Host + "/proc/hello:v1"
	dropped := f.reg.Host + "/proc/old:v1"
	loaded := f.reg.Host + "/proc/dp:v1"
	f.push(t, declared, hello)
	f.push(t, dropped, hello)
	f.push(t, loaded, dp)
	f.fetch(t, declared, sources.Want{Origin: sources.Declared})
	f.fetch(t, dropped, sources.Want{Origin: sources.Declared})
	f.fetch(t, loaded, sources.Want{Origin: sources.Command})

	// A pull that wrote its module but not the index, a temporary file.
	orphan := filepath.Join(f.dir, sources.Stem(f.reg.Host+"/proc/new:v1")+".wasm")
	for _, p := range []string{orphan, filepath.Join(f.dir, ".x.wasm.tmp")} {
		if err := os.WriteFile(p, hello.Module, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := f.open(t, nil)
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("a file no entry owns survived Open: %v", err)
	}
	gone, err := s.Prune([]string{declared})
	if err != nil || len(gone) != 1 || gone[0].Ref != dropped {
		t.Fatalf("Prune = %+v, %v; want %s removed", gone, err, dropped)
	}
	if err := s.Remove(declared, "registry.example/never:v1"); err != nil {
		t.Fatal(err)
	}
	got := s.Entries()
	if len(got) != 1 || got[0].Ref != loaded {
		t.Errorf("Entries = %+v, want %s alone", got, loaded)
	}
	files := f.files(t)
	delete(files, sources.IndexFile)
	if len(files) != 1 {
		t.Errorf("files %d, want the one module of %s", len(files), loaded)
	}
}

func TestStem(t *testing.T) {
	a, b := sources.Stem("127.0.0.1:5000/proc/app:stable"), sources.Stem("127.0.0.1:5000/proc/app:canary")
	if a == b || a != sources.Stem("127.0.0.1:5000/proc/app:stable") {
		t.Errorf("stems %q and %q: want stable and apart", a, b)
	}
	long := sources.Stem("registry.example/" + strings.Repeat("x/", 200) + "app:v1")
	if len(long) > 64+13 || strings.ContainsAny(long+a, ".:/@") {
		t.Errorf("stem %q: want at most 77 characters of [a-z0-9_-]", long)
	}
}
