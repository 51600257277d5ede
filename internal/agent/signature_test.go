package agent_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/empirefederation/neuron/federation/fedtest"
	"github.com/empirefederation/neuron/internal/signature"
	"github.com/empirefederation/neuron/internal/testutil"
)

// signFileBeside signs the module at path (it has no sidecar) with the
// private key at keyPath, writing path.sig, and returns the signature
// file's bytes.
func signFileBeside(t *testing.T, keyPath, path string) []byte {
	t.Helper()
	key, err := signature.LoadPrivateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f signature.File
	f.Sign(key, signature.Subject{Module: sha(b)})
	if err := os.WriteFile(signature.Path(path), f.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	return f.Marshal()
}

// A neuron configured with trustedKeys, end to end: it serves the signed
// processor of its directory; load_plugin by URL and by path fails with
// the reason while the signature is missing, and loads once it is there;
// what served keeps serving meanwhile.
func TestFederation_LoadPluginSigned(t *testing.T) {
	fed := fedtest.New(t)
	keys := t.TempDir()
	keyPrefix := filepath.Join(keys, "release")
	if _, err := signature.GenerateKey(keyPrefix+".key", keyPrefix+".pub"); err != nil {
		t.Fatal(err)
	}
	plugins := pluginsDir(t, map[string]string{"dp.wasm": "examples/dataprocessor/v1.0.0"})
	signFileBeside(t, keyPrefix+".key", filepath.Join(plugins, "dp.wasm"))
	v110, err := os.ReadFile(testutil.BuildWasm(t, "examples/dataprocessor/v1.1.0"))
	if err != nil {
		t.Fatal(err)
	}
	hello, err := os.ReadFile(testutil.BuildWasm(t, "examples/hello"))
	if err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(plugins, "staging", "dp-1.1.0.wasm")
	if err := os.MkdirAll(filepath.Dir(staged), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(staged, v110, 0o644); err != nil {
		t.Fatal(err)
	}
	helloSig := filepath.Join(t.TempDir(), "hello.wasm")
	if err := os.WriteFile(helloSig, hello, 0o644); err != nil {
		t.Fatal(err)
	}
	var published atomic.Pointer[[]byte] // hello.wasm.sig, once published
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/hello.wasm":
			_, _ = w.Write(hello)
		case r.URL.Path == "/hello.wasm.sig" && published.Load() != nil:
			_, _ = w.Write(*published.Load())
		default:
			http.NotFound(w, r)
		}
	}))
	defer src.Close()

	n := start(t, "--config", federationConfig(t, fed, plugins, dataDir(t),
		fmt.Sprintf("pluginsWatch: false\ntrustedKeys: [%s]\n", keyPrefix+".pub")))
	testutil.Eventually(t, waitLimit, "registration (its first heartbeat: the neuron holds its token)", func() bool { return len(fed.Heartbeats()) > 0 })
	serving := func() string { return n.do(t, "GET", "/status", "").header.Get("X-Neuron-Plugin") }
	if got := serving(); got != "data-processor@1.0.0" {
		t.Fatalf("serving %q, want the signed data-processor@1.0.0", got)
	}

	loadURL := fmt.Sprintf(`{"url": %q, "sha256": %q}`, src.URL+"/hello.wasm", sha(hello))
	if o := n.command(t, fed, "url-unsigned", "load_plugin", loadURL); o.OK || !strings.Contains(o.Error, "no signature file could be downloaded") {
		t.Errorf("load_plugin of an unsigned URL: %+v, want it refused for its signature", o)
	}
	if _, err := os.Stat(filepath.Join(plugins, "hello.wasm")); !os.IsNotExist(err) {
		t.Errorf("the refused module was placed in the plugins directory: %v", err)
	}
	sig := signFileBeside(t, keyPrefix+".key", helloSig)
	published.Store(&sig)
	if o := n.command(t, fed, "url-signed", "load_plugin", loadURL); !o.OK {
		t.Fatalf("load_plugin of a signed URL: %+v", o)
	}
	if r := n.do(t, "GET", "/hello/x", ""); r.status != http.StatusOK {
		t.Errorf("hello after its signed load: %d %s", r.status, r.body)
	}

	loadPath := fmt.Sprintf(`{"path": "staging/dp-1.1.0.wasm", "sha256": %q}`, sha(v110))
	if o := n.command(t, fed, "path-unsigned", "load_plugin", loadPath); o.OK || !strings.Contains(o.Error, "the processor is not signed") ||
		!strings.Contains(o.Error, "neuron plugin sign --key KEY.key dp-1.1.0.wasm") {
		t.Errorf("load_plugin of an unsigned path: %+v, want it refused, saying how to sign", o)
	}
	if got := serving(); got != "data-processor@1.0.0" {
		t.Errorf("serving %q after the refusal, want data-processor@1.0.0", got)
	}
	signFileBeside(t, keyPrefix+".key", staged)
	if o := n.command(t, fed, "path-signed", "load_plugin", loadPath); !o.OK {
		t.Fatalf("load_plugin of a signed path: %+v", o)
	}
	if got := serving(); got != "data-processor@1.1.0" {
		t.Errorf("serving %q, want the signed data-processor@1.1.0", got)
	}
}
