// Package dataprocessorc tests the C data processor: built with clang for
// wasm32-wasi, served by a real runtime, and compared batch by batch with
// the Go processor's logic (process.Process, version 1.0.0's options).
// The processor itself (src/processor.c) includes only the C standard
// library and follows docs/abi.md alone, never the Go SDK, so that it
// shows the ABI serves a processor written in another language.
package dataprocessorc

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/examples/dataprocessor/process"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// build compiles src/processor.c into dir. A machine without clang for
// wasm32-wasi skips the test (see testutil.Unavailable); .ci/run installs it.
func build(t *testing.T, dir string) {
	t.Helper()
	if missing := missingToolchain(); missing != "" {
		testutil.Unavailable(t, "clang for wasm32-wasi is not installed ("+missing+" is missing): apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32, as .ci/run does")
	}
	out := filepath.Join(dir, "data-processor-c.wasm")
	cmd := exec.Command("clang", "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-mexec-model=reactor", "-Wall", "-Werror",
		"-o", out, filepath.Join(testutil.RepoRoot(t), "examples", "dataprocessor-c", "src", "processor.c"))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, msg)
	}
}

// missingToolchain names the first part of clang for wasm32-wasi that is
// not installed, or returns "": the parts .ci/run installs. A machine with
// all of them that fails to build the processor fails the test.
func missingToolchain() string {
	for _, tool := range []string{"clang", "wasm-ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool
		}
	}
	if _, err := os.Stat("/usr/lib/wasm32-wasi/libc.a"); err != nil {
		return "wasi-libc"
	}
	if rt, _ := filepath.Glob("/usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a"); len(rt) == 0 {
		return "libclang_rt.builtins-wasm32.a"
	}
	return ""
}

func start(t *testing.T, settings map[string]any) *runtime.Runtime {
	t.Helper()
	dir := t.TempDir()
	build(t, dir)
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Options{PluginsDir: dir, DataDir: t.TempDir(), Settings: settings,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(ctx) })
	if err := rt.LoadDir(ctx); err != nil || len(rt.Processors()) != 1 {
		t.Fatalf("load: %v, %d processors", err, len(rt.Processors()))
	}
	return rt
}

func post(rt http.Handler, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, httptest.NewRequest("POST", "/c/process", strings.NewReader(body)))
	return rec
}

// counts is what both implementations must agree on.
type counts struct {
	BatchID                                                            string
	RecordsReceived, RecordsProcessed, DuplicatesFound, InvalidRecords int
}

func TestSameCountsAsGo(t *testing.T) {
	rt := start(t, nil)
	batches := []string{
		`{"batchId":"b1","records":[]}`,
		`{"batchId":"b1","records":[{"id":"1","email":"a@example.com"},{"id":"1","email":"b@example.com"},{"id":"2","email":"bad"},` +
			`{"id":3,"email":"C@Example.com "},"x",{"id":null,"email":"d@e.f"},{"id":"4"},{"id":" ","email":"x@y.z"},` +
			`{"id":"\u0035","email":"q@w.e","nested":{"a":[1,2,{"b":null}]}},{"id":"5","email":"r@w.e"},{"id":-1.5e3,"email":"s@t.u"}]}`,
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		batches = append(batches, randomBatch(rnd))
	}
	for i, body := range batches {
		rec := post(rt, body)
		if rec.Code != 200 {
			t.Fatalf("batch %d: %d %s", i, rec.Code, rec.Body)
		}
		var got counts
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		var b process.Batch
		if err := json.Unmarshal([]byte(body), &b); err != nil {
			t.Fatal(err)
		}
		res := process.Process(b, process.Options{Version: "1.0.0"}, 0)
		want := counts{res.BatchID, res.RecordsReceived, res.RecordsProcessed, res.DuplicatesFound, res.InvalidRecords}
		if got != want {
			t.Fatalf("batch %d %s:\n C  %+v\n Go %+v", i, body, got, want)
		}
	}
}

// randomBatch mixes valid, duplicate and invalid records of every kind.
func randomBatch(rnd *rand.Rand) string {
	ids := []string{`"a"`, `"b"`, `"A"`, `" c "`, `"\u0061"`, `1`, `2.5`, `-3`, `""`, `" "`, `null`, `true`, `{}`, `[1]`}
	emails := []string{`"x@y.z"`, `"X@Y.Z"`, `" p@q.rs "`, `"no-at"`, `"a@b"`, `"@b.c"`, `"a@.b"`, `"a@b..c"`, `"a b@c.d"`, `3`, `null`, `"é@ü.de"`}
	var recs []string
	for range rnd.IntN(40) {
		switch rnd.IntN(10) {
		case 0:
			recs = append(recs, []string{`"str"`, `7`, `null`, `[]`, `[{"id":"a"}]`}[rnd.IntN(5)])
		case 1:
			recs = append(recs, fmt.Sprintf(`{"email":%s}`, emails[rnd.IntN(len(emails))]))
		case 2:
			recs = append(recs, fmt.Sprintf(`{"id":%s}`, ids[rnd.IntN(len(ids))]))
		default:
			recs = append(recs, fmt.Sprintf(`{"name":"n","id":%s,"tags":[1,{"x":"y"}],"email":%s}`,
				ids[rnd.IntN(len(ids))], emails[rnd.IntN(len(emails))]))
		}
	}
	return fmt.Sprintf(`{"batchId":"r%d","records":[%s]}`, rnd.IntN(1000), strings.Join(recs, ","))
}

// A module without the SDK declares its settings in its manifest, as the
// SDK does: the host reads them, and the processor sees the default when
// the operator sets nothing.
func TestDeclaredSettings(t *testing.T) {
	rt := start(t, nil)
	if got := rt.Processors()[0].Manifest.Settings; len(got) != 1 || got["batchSize"] != 1000.0 {
		t.Errorf("declared settings %v, want batchSize 1000", got)
	}
	recs := strings.TrimSuffix(strings.Repeat(`{"id":1},`, 1001), ",")
	if rec := post(rt, `{"batchId":"b","records":[`+recs+`]}`); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("1001 records: %d %s, want 413 past the declared batchSize", rec.Code, rec.Body)
	}
}

func TestErrors(t *testing.T) {
	rt := start(t, map[string]any{"batchSize": 2})
	for _, tc := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"batchId":"b1"`, 400, "bad_request"},
		{`[]`, 400, "bad_request"},
		{`{"records":[]}`, 400, "bad_request"},
		{`{"batchId":"b1"}`, 400, "bad_request"},
		{`{"batchId":"b1","records":[1,2,3]}`, 413, "batch_too_large"},
		{`{"batchId":"b1","records":[1,2]}`, 200, ""},
	} {
		rec := post(rt, tc.body)
		if rec.Code != tc.status || (tc.code != "" && !strings.Contains(rec.Body.String(), `"code":"`+tc.code+`"`)) {
			t.Errorf("%s: %d %s, want %d %s", tc.body, rec.Code, rec.Body, tc.status, tc.code)
		}
	}
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, httptest.NewRequest("GET", "/c/status", nil))
	if !strings.Contains(rec.Body.String(), `"batchesProcessed":1`) || !strings.Contains(rec.Body.String(), `"batchesRejected":5`) {
		t.Errorf("status = %s", rec.Body)
	}
}
