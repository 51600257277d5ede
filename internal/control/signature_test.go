package control

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/signature"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// swaps is the runtime of a load_plugin that may swap: it counts Syncs.
type swaps struct {
	noSwap
	mu sync.Mutex
	n  int
}

func (s *swaps) Sync(context.Context) (runtime.Changes, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return runtime.Changes{}, nil
}

func (s *swaps) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// signFile is the signature file of module (with sidecar, nil for none)
// by key.
func signFile(key ed25519.PrivateKey, module, sidecar []byte) []byte {
	subj := signature.Subject{Module: modfile.SHA256Hex(module)}
	if sidecar != nil {
		subj.Sidecar = modfile.SHA256Hex(sidecar)
	}
	var f signature.File
	f.Sign(key, subj)
	return f.Marshal()
}

// load_plugin on a neuron that trusts a key: a module from a URL or a
// path loads only with a signature of that key, checked before anything
// is placed in the plugins directory; the signature file (and the
// sidecar, for a path) are placed with it. A neuron that trusts no key
// asks for no signature.
func TestLoadPlugin_TrustedKeys(t *testing.T) {
	signer, other := testutil.NewSigningKey(t), testutil.NewSigningKey(t)
	key, pub, strangerKey := signer.Priv, signer.Pub, other.Priv
	trust := signature.NewVerifier(pub)
	manifest := []byte(`{"name": "m", "version": "1.0.0"}`)
	good, wrong, stranger := signFile(key, module, nil), signFile(key, []byte("another module"), nil), signFile(strangerKey, module, nil)

	var mu sync.Mutex
	var asked []string
	files := map[string][]byte{
		"/signed.wasm": module, "/signed.wasm.sig": good,
		"/unsigned.wasm": module,
		"/wrong.wasm":    module, "/wrong.wasm.sig": wrong,
		"/stranger.wasm": module, "/stranger.wasm.sig": stranger,
		"/moved.wasm": module, "/elsewhere/moved.wasm.sig": good,
		"/astray.wasm": module,
	}
	var srv *httptest.Server
	srv = serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		switch r.URL.Path {
		case "/moved.wasm.sig":
			http.Redirect(w, r, srv.URL+"/elsewhere/moved.wasm.sig", http.StatusFound)
			return
		case "/astray.wasm.sig":
			http.Redirect(w, r, srv.URL+"/elsewhere/astray.txt", http.StatusFound)
			return
		}
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	})

	tests := []struct {
		name   string
		trust  *signature.Verifier
		url    string            // or path, below
		path   string            // inside the plugins directory
		before map[string][]byte // files of the plugins directory
		want   string            // in the outcome; "" loads
		placed map[string][]byte // what the plugins directory holds after, beside before
		asked  []string          // the paths the server was asked for
	}{
		{name: "url, signed", trust: trust, url: "/signed.wasm",
			placed: map[string][]byte{"signed.wasm": module, "signed.wasm.sig": good}, asked: []string{"/signed.wasm", "/signed.wasm.sig"}},
		{name: "url, unsigned", trust: trust, url: "/unsigned.wasm",
			want: "signature: no signature file could be downloaded from the URL; the neuron's log says why: this neuron loads only processors signed by a trusted key"},
		{name: "url, signed for another module", trust: trust, url: "/wrong.wasm",
			want: "the signature by trusted key " + signature.KeyID(pub) + " does not match"},
		{name: "url, signed by an untrusted key", trust: trust, url: "/stranger.wasm", want: "none of them a key this neuron trusts"},
		{name: "url, signature redirected to another .wasm.sig", trust: trust, url: "/moved.wasm",
			placed: map[string][]byte{"moved.wasm": module, "moved.wasm.sig": good}},
		{name: "url, signature redirected to a name not .wasm.sig", trust: trust, url: "/astray.wasm",
			want: "a redirect led to a file whose name does not end in .wasm.sig"},
		{name: "url, stale sidecar beside its place", trust: trust, url: "/signed.wasm", before: map[string][]byte{"signed.json": manifest},
			want: "the module or its manifest is not the one that was signed"},
		{name: "url, no trust: no signature asked for", url: "/unsigned.wasm",
			placed: map[string][]byte{"unsigned.wasm": module}, asked: []string{"/unsigned.wasm"}},
		{name: "path, signed with its sidecar, copied along", trust: trust, path: "staging/p.wasm",
			before: map[string][]byte{"staging/p.wasm": module, "staging/p.json": manifest, "staging/p.wasm.sig": signFile(key, module, manifest)},
			placed: map[string][]byte{"p.wasm": module, "p.json": manifest, "p.wasm.sig": signFile(key, module, manifest)}},
		{name: "path, at the top, signed", trust: trust, path: "p.wasm",
			before: map[string][]byte{"p.wasm": module, "p.wasm.sig": good}},
		{name: "path, unsigned", trust: trust, path: "staging/p.wasm", before: map[string][]byte{"staging/p.wasm": module},
			want: "the processor is not signed, and this neuron accepts only processors signed by a trusted key"},
		{name: "path, signed without the sidecar beside it", trust: trust, path: "staging/p.wasm",
			before: map[string][]byte{"staging/p.wasm": module, "staging/p.json": manifest, "staging/p.wasm.sig": good},
			want:   "does not match"},
		{name: "path, signed by an untrusted key", trust: trust, path: "staging/p.wasm",
			before: map[string][]byte{"staging/p.wasm": module, "staging/p.wasm.sig": stranger}, want: "none of them a key this neuron trusts"},
		{name: "path, signature file too large", trust: trust, path: "staging/p.wasm",
			before: map[string][]byte{"staging/p.wasm": module, "staging/p.wasm.sig": make([]byte, signature.MaxFileBytes+1)},
			want:   "p.wasm.sig is larger than 65536 bytes"},
		{name: "path, no trust: unsigned loads", path: "staging/p.wasm", before: map[string][]byte{"staging/p.wasm": module},
			placed: map[string][]byte{"p.wasm": module}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tc.before {
				writeFile(t, filepath.Join(dir, name), b)
			}
			mu.Lock()
			asked = nil
			mu.Unlock()
			d, _ := newDownloads()
			rt := &swaps{noSwap: noSwap{t}}
			load := PluginCommands(rt, dir, d, nil, tc.trust)["load_plugin"]
			args := map[string]string{"path": tc.path}
			if tc.url != "" {
				args = map[string]string{"url": srv.URL + tc.url, "sha256": modfile.SHA256Hex(module)}
			}
			data, _ := json.Marshal(args)
			if err := load.Check(data); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := load.Run(ctx, data)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("outcome %v, want %q", err, tc.want)
				}
				if !strings.Contains(err.Error(), "nothing was loaded") {
					t.Errorf("outcome %q does not say nothing was loaded", err)
				}
				if rt.count() != 0 {
					t.Error("a refused module was swapped")
				}
				if got := dirFiles(t, dir); !equalFiles(got, tc.before) {
					t.Errorf("the plugins directory holds %v after a refusal, want it as it was", slices.Sorted(maps.Keys(got)))
				}
				return
			}
			if err != nil {
				t.Fatalf("load_plugin: %v", err)
			}
			if rt.count() != 1 {
				t.Errorf("%d swaps, want 1", rt.count())
			}
			want := map[string][]byte{}
			for name, b := range tc.before {
				want[name] = b
			}
			for name, b := range tc.placed {
				want[name] = b
			}
			if got := dirFiles(t, dir); !equalFiles(got, want) {
				t.Errorf("the plugins directory holds %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
			}
			mu.Lock()
			defer mu.Unlock()
			if tc.asked != nil && !slices.Equal(asked, tc.asked) {
				t.Errorf("the server was asked for %v, want %v", asked, tc.asked)
			}
		})
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dirFiles returns the files under dir by their slash path, with their
// contents.
func dirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)], err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equalFiles(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, func(x, y []byte) bool { return string(x) == string(y) })
}
