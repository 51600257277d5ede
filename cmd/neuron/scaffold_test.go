package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
)

// goLimit bounds a go command of the generated project (a build from a
// cold cache under a loaded machine); it is never an assertion on speed.
const goLimit = 5 * time.Minute

// in runs name with args in dir, with the tests' environment plus env,
// and returns its exit status and output.
func in(t *testing.T, dir string, env []string, name string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), goLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, environ(env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if _, exited := err.(*exec.ExitError); err != nil && !exited || ctx.Err() != nil {
		t.Fatalf("%s %q: %v (ctx %v)\n%s", name, args, err, ctx.Err(), out.Bytes())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// `neuron plugin new demo`, outside the repository, makes a project that
// tests, builds with the command it prints and validates as generated.
func TestPluginNew(t *testing.T) {
	t.Parallel()
	sdk := filepath.Join(testutil.RepoRoot(t), "sdk")
	work := t.TempDir()
	code, out := in(t, work, nil, binary, "plugin", "new", "--sdk", sdk, "demo")
	if code != 0 {
		t.Fatalf("plugin new: exit %d\n%s", code, out)
	}
	var build string
	for _, line := range strings.Split(out, "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared") {
			build = l
		}
	}
	if build == "" || !strings.Contains(out, "cd demo\n") || !strings.Contains(out, "neuron plugin validate demo.wasm") {
		t.Fatalf("plugin new printed no build command, cd and validate:\n%s", out)
	}
	demo := filepath.Join(work, "demo")
	for _, f := range []string{"main.go", "main_test.go", "go.mod", "README.md", ".gitignore"} {
		if _, err := os.Stat(filepath.Join(demo, f)); err != nil {
			t.Errorf("the project lacks %s: %v", f, err)
		}
	}
	mod, err := os.ReadFile(filepath.Join(demo, "go.mod"))
	if err != nil || !strings.Contains(string(mod), "require github.com/empirefederation/neuron/sdk v0.0.0") ||
		!strings.Contains(string(mod), "replace github.com/empirefederation/neuron/sdk => "+sdk+"\n") {
		t.Fatalf("go.mod (%v):\n%s\nwant the SDK required and replaced by %s", err, mod, sdk)
	}

	goEnv := []string{"GOFLAGS=-mod=mod", "GOWORK=off"}
	if code, out := in(t, demo, goEnv, "go", "test", "./..."); code != 0 {
		t.Fatalf("go test of the generated project: exit %d\n%s", code, out)
	}
	if code, out := in(t, demo, goEnv, "sh", "-c", build); code != 0 {
		t.Fatalf("%s: exit %d\n%s", build, code, out)
	}
	if code, out := in(t, demo, nil, binary, "plugin", "validate", "demo.wasm"); code != 0 ||
		out != "ok: demo.wasm is demo@0.1.0, ABI v1, 1 endpoint\n" {
		t.Fatalf("plugin validate demo.wasm: exit %d\n%s", code, out)
	}
}

// Without --sdk, `neuron plugin new` takes the SDK of the checkout it runs
// in; a development build outside any checkout says to pass --sdk; an
// existing directory and a bad name are refused.
func TestPluginNew_Errors(t *testing.T) {
	t.Parallel()
	checkout := t.TempDir() // a checkout as far as the SDK goes
	if err := os.MkdirAll(filepath.Join(checkout, "sdk"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(checkout, "sdk", "go.mod"), []byte("module github.com/empirefederation/neuron/sdk\n\ngo 1.25\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(checkout, "work")
	if err := os.Mkdir(inside, 0o755); err != nil {
		t.Fatal(err)
	}
	if code, out := in(t, inside, nil, binary, "plugin", "new", "found"); code != 0 {
		t.Fatalf("plugin new inside a checkout: exit %d\n%s", code, out)
	}
	mod, err := os.ReadFile(filepath.Join(inside, "found", "go.mod"))
	if err != nil || !strings.Contains(string(mod), "go 1.25\n") ||
		!strings.Contains(string(mod), "=> "+filepath.Join(checkout, "sdk")+"\n") {
		t.Errorf("go.mod inside a checkout (%v):\n%s\nwant the checkout's SDK and its go version", err, mod)
	}

	outside := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"plugin", "new", "lost"}, "development build (version dev), for which no SDK is published: pass --sdk DIR"},
		{[]string{"plugin", "new", "--sdk", outside, "x"}, "--sdk " + outside + ": no SDK there"},
		{[]string{"plugin", "new", "Bad Name"}, `"Bad Name" is not a processor name`},
	} {
		code, out := in(t, outside, nil, binary, tc.args...)
		if code != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("%q: exit %d\n%s\nwant 1 and %q", tc.args, code, out, tc.want)
		}
	}
	if code, out := in(t, inside, nil, binary, "plugin", "new", "found"); code != 1 || !strings.Contains(out, "found already exists") {
		t.Errorf("plugin new over an existing directory: exit %d\n%s", code, out)
	}
}
