package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/sdk/abi"
)

func TestRepoRoot(t *testing.T) {
	root := RepoRoot(t)
	if got := modulePath(filepath.Join(root, "go.mod")); got != ModulePath {
		t.Fatalf("RepoRoot() = %s whose go.mod declares %q", root, got)
	}
}

// useCache points the build cache at a fresh directory and forgets what
// this process built, as a new test binary would.
func useCache(t *testing.T, dir string) {
	old := cacheDir
	cacheDir = dir
	forget()
	t.Cleanup(func() { cacheDir = old; forget() })
}

func forget() {
	buildMu.Lock()
	defer buildMu.Unlock()
	clear(builds)
}

func TestBuildWasmCaches(t *testing.T) {
	useCache(t, t.TempDir())
	const pkg = "runtime/testdata/guests/echo"

	before := compiles.Load()
	p1 := BuildWasm(t, pkg)
	if n := compiles.Load() - before; n != 1 {
		t.Fatalf("first build ran go build %d times, want 1", n)
	}
	b, err := os.ReadFile(p1)
	if err != nil || !bytes.HasPrefix(b, []byte("\x00asm")) {
		t.Fatalf("%s is not a Wasm module (err %v)", p1, err)
	}

	if p2 := BuildWasm(t, pkg); p2 != p1 {
		t.Fatalf("second build returned %s, want %s", p2, p1)
	}
	forget() // as another test binary: the file on disk must be reused
	if p3 := BuildWasm(t, filepath.Join(RepoRoot(t), pkg)); p3 != p1 {
		t.Fatalf("build after forgetting returned %s, want %s", p3, p1)
	}
	if n := compiles.Load() - before; n != 1 {
		t.Fatalf("three builds ran go build %d times, want 1", n)
	}
}

// fatalTB records Fatalf instead of failing the test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestBuildWasmReportsCompilerOutput(t *testing.T) {
	useCache(t, t.TempDir())
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":  "module broken\n\ngo 1.24\n",
		"main.go": "package main\n\nfunc main() { undefinedThing() }\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		BuildWasm(tb, dir)
	}()
	<-done
	if !strings.Contains(tb.msg, "undefined: undefinedThing") {
		t.Fatalf("Fatalf message lacks the compiler's output:\n%s", tb.msg)
	}
}

// TestGuestsBuild builds every test guest, filling the cache that the
// runtime's tests then use.
func TestGuestsBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every guest")
	}
	dirs, err := filepath.Glob(filepath.Join(RepoRoot(t), "runtime/testdata/guests/*/main.go"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no guests found (err %v)", err)
	}
	for _, f := range dirs {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			BuildWasm(t, dir)
		})
	}
}

// TestCodecRoundTrip is a sanity check of the abi codec the test guests use.
func TestCodecRoundTrip(t *testing.T) {
	req := abi.Request{
		Method: "POST", Path: "/t/echo/7", Route: "/t/echo/{id}",
		Vars:     []abi.Pair{{Name: "id", Value: "7"}},
		RawQuery: "a=1&b=%20",
		Header:   []abi.Pair{{Name: "Content-Type", Value: "text/plain"}},
		Body:     []byte("hello"),
	}
	enc := abi.AppendRequest(nil, &req)
	if len(enc) != req.HeadSize()+len(req.Body) {
		t.Fatalf("encoded %d bytes, want HeadSize %d + body %d", len(enc), req.HeadSize(), len(req.Body))
	}
	got, err := abi.DecodeRequest(enc)
	if err != nil || !reflect.DeepEqual(got, req) {
		t.Fatalf("DecodeRequest = %+v, %v; want %+v", got, err, req)
	}
	for _, bad := range [][]byte{enc[:len(enc)-1], append(enc, 0), bytes.Repeat([]byte{0xFF}, 32)} {
		if _, err := abi.DecodeRequest(bad); !errors.Is(err, abi.ErrMalformed) {
			t.Errorf("DecodeRequest(%d bytes) error = %v, want ErrMalformed", len(bad), err)
		}
	}

	resp := abi.Response{Status: 201, Header: []abi.Pair{{Name: "X-A", Value: "b"}}, Body: []byte("{}")}
	gotResp, err := abi.DecodeResponse(abi.AppendResponse([]byte("prefix"), &resp)[len("prefix"):])
	if err != nil || !reflect.DeepEqual(gotResp, resp) {
		t.Fatalf("DecodeResponse = %+v, %v; want %+v", gotResp, err, resp)
	}
	if _, err := abi.DecodeResponse(bytes.Repeat([]byte{0xFF}, 32)); !errors.Is(err, abi.ErrMalformed) {
		t.Errorf("DecodeResponse(32×0xFF) error = %v, want ErrMalformed (the badptr guest relies on it)", err)
	}
}

func TestWat(t *testing.T) {
	src := filepath.Join(t.TempDir(), "m.wat")
	if err := os.WriteFile(src, []byte(`(module (global (mut i32) (i32.const 0)) (func (export "f") (global.set 1 (i32.const 1))))`), 0o644); err != nil {
		t.Fatal(err)
	}
	b := Wat(t, src, "--no-check")
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		t.Fatalf("not a Wasm module: % x", b)
	}
}

func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "golden.txt")
	if err := os.WriteFile(path, []byte("same\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &recordTB{TB: t}
	Golden(r, path, []byte("same\n"))
	if r.failed != "" || r.errored != "" {
		t.Errorf("equal contents: failed %q %q", r.failed, r.errored)
	}
	Golden(r, path, []byte("other\n"))
	if !strings.Contains(r.errored, "-update") {
		t.Errorf("different contents: %q, want an error saying to run with -update", r.errored)
	}

	*update = true
	t.Cleanup(func() { *update = false })
	r = &recordTB{TB: t}
	Golden(r, path, []byte("other\n"))
	if got, err := os.ReadFile(path); err != nil || string(got) != "other\n" || r.failed != "" || r.errored != "" {
		t.Errorf("-update: file %q (%v), failed %q %q; want it rewritten", got, err, r.failed, r.errored)
	}
}
