package runtime_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// A guest that packs pointer and length the wrong way round is told so:
// its manifest export is refused saying the two look swapped, and, with a
// sidecar manifest, its handler's response is a 502 saying the same.
func TestABI_SwappedPointerAndLength(t *testing.T) {
	wasm := testutil.Wat(t, "testdata/swapped.wat")
	const swapped = "the pointer and length look swapped, pack them as pointer<<32 | length (abi.Pack)"

	_, err := runtime.Inspect(context.Background(), writeTemp(t, "swapped.wasm", wasm), runtime.Options{CacheDir: cacheDir})
	if err == nil || !strings.Contains(err.Error(), "manifest from neuron_manifest (1024 bytes at 108)") ||
		!strings.Contains(err.Error(), "read the other way round, 108 bytes at 1024, it is valid: "+swapped) {
		t.Errorf("Inspect: %v; want the manifest refused as swapped", err)
	}

	e := startEnv(t, runtime.Options{}, map[string][]byte{
		"swapped.wasm": wasm,
		"swapped.json": []byte(`{"name":"swapped","version":"1.0.0","endpoints":[{"method":"GET","path":"/t/swapped/ok","export":"handle"}]}`),
	})
	r := e.get("/t/swapped/ok")
	if r.status != http.StatusBadGateway {
		t.Fatalf("GET /t/swapped/ok: %d %s, want 502", r.status, r.body)
	}
	if got := r.apiError(t); got.Code != runtime.CodeABIViolation || !strings.Contains(got.Error, "response (2048 bytes at 14)") ||
		!strings.Contains(got.Error, "14 bytes at 2048, it is valid: "+swapped) {
		t.Errorf("GET /t/swapped/ok: %+v; want an ABI violation naming the swap", got)
	}
}
