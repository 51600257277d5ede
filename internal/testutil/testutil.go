// Package testutil holds helpers shared by neuron's tests: finding the
// repository root, building Go packages into WASI reactor modules
// (BuildWasm), assembling text-format modules (Wat) and small hand-built
// ones (AssembleModule), golden files, the reference guide's examples,
// Prometheus samples, waiting for a condition (Eventually), the Redis
// and PostgreSQL servers that tests probe, and certificate authorities
// made for one test (NewCA), and OCI registries on loopback (Registry,
// StartRegistry). Only _test.go files may import it, and it imports no
// package of the neuron but the leaf internal/leb128, so that the tests of
// every package can use it without a cycle.
package testutil

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ModulePath is the module path that marks the repository root.
const ModulePath = "github.com/empirefederation/neuron"

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// RepoRoot returns the absolute path of the repository root: the nearest
// directory at or above the working directory whose go.mod declares
// ModulePath. It fails the test if there is none.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	rootOnce.Do(func() { rootDir, rootErr = findRoot() })
	if rootErr != nil {
		tb.Fatalf("testutil: %v", rootErr)
	}
	return rootDir
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if modulePath(filepath.Join(dir, "go.mod")) == ModulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for module %s above the working directory", ModulePath)
		}
		dir = parent
	}
}

// modulePath returns the module directive of the go.mod file at path, or "".
func modulePath(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module"); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// buildFlags are the go build flags BuildWasm uses; they are part of the
// cache key.
var buildFlags = []string{"build", "-buildmode=c-shared", "-trimpath"}

var (
	// cacheDir is where built modules are kept across test binaries and
	// runs. Tests of this package point it elsewhere.
	cacheDir = filepath.Join(os.TempDir(), "neuron-testwasm")

	buildMu  sync.Mutex
	builds   = map[string]*buildResult{} // by absolute package directory
	buildSem = make(chan struct{}, 2)    // go builds running at once

	compiles atomic.Int64 // go build runs, for tests of this package
)

type buildResult struct {
	done chan struct{}
	path string
	err  error
}

// BuildWasm builds the Go package in pkgDir with GOOS=wasip1 GOARCH=wasm
// and -buildmode=c-shared (a WASI reactor) and returns the path of the
// .wasm file. pkgDir is relative to the repository root, such as
// "runtime/testdata/guests/echo" or "examples/hello"; an absolute path is
// used as is. The package may belong to the root module or have a go.mod of
// its own.
//
// Outputs are cached in os.TempDir()/neuron-testwasm, keyed by the go
// version and the contents of the package, its dependencies inside the
// repository, the sdk tree and the go.mod and go.sum files, so an unchanged
// package is built once across test binaries and runs; modules unused for
// three days are pruned. Within a process each package is built at most once
// and at most two builds run at a time. The returned file is shared: copy it
// before changing it or putting files next to it. If the build fails,
// BuildWasm fails the test with the compiler's output.
func BuildWasm(tb testing.TB, pkgDir string) string {
	tb.Helper()
	dir := pkgDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(RepoRoot(tb), dir)
	}
	dir = filepath.Clean(dir)

	buildMu.Lock()
	r, ok := builds[dir]
	if !ok {
		r = &buildResult{done: make(chan struct{})}
		builds[dir] = r
		go func() {
			defer close(r.done)
			r.path, r.err = build(dir)
		}()
	}
	buildMu.Unlock()
	<-r.done
	if r.err != nil {
		tb.Fatalf("testutil: building %s: %v", pkgDir, r.err)
	}
	return r.path
}

// build returns the cached module for the package in dir, building it if
// the cache has none.
func build(dir string) (string, error) {
	buildSem <- struct{}{}
	defer func() { <-buildSem }()

	key, err := cacheKey(dir)
	if err != nil {
		return "", err
	}
	out := filepath.Join(cacheDir, filepath.Base(dir)+"-"+key+".wasm")
	if _, err := os.Stat(out); err == nil {
		now := time.Now()
		os.Chtimes(out, now, now) // keep it from being pruned
		return out, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	pruneOnce.Do(prune)
	// Build into a private directory and rename, so that test binaries
	// building the same package at once never see a partial file.
	tmp, err := os.MkdirTemp(cacheDir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	tmpOut := filepath.Join(tmp, "out.wasm")
	compiles.Add(1)
	if _, err := goCmd(dir, append(buildFlags, "-o", tmpOut, ".")...); err != nil {
		return "", err
	}
	if err := os.Rename(tmpOut, out); err != nil {
		return "", err
	}
	return out, nil
}

var pruneOnce sync.Once

// prune removes modules unused for three days, whose keys are most likely
// stale, and build directories left by test binaries killed mid-build.
func prune() {
	entries, _ := os.ReadDir(cacheDir)
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		age := time.Since(info.ModTime())
		if strings.HasPrefix(e.Name(), "build-") && age > time.Hour ||
			strings.HasSuffix(e.Name(), ".wasm") && age > 72*time.Hour {
			os.RemoveAll(filepath.Join(cacheDir, e.Name()))
		}
	}
}

// goCmd runs the go command for wasip1/wasm in dir and returns its output.
func goCmd(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

// cacheKey hashes everything that decides the module built from dir.
func cacheKey(dir string) (string, error) {
	h := sha256.New()
	version, err := goCmd(dir, "env", "GOVERSION")
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "%s\n%q\n", bytes.TrimSpace(version), buildFlags)

	// The package and every non-standard package it imports: files inside
	// the repository by content, anything else (the module cache, which is
	// immutable) by module version.
	deps, err := goCmd(dir, "list", "-deps", "-e", "-f",
		`{{if not .Standard}}{{.Dir}}|{{.ImportPath}}|{{with .Module}}{{.Path}}@{{.Version}}{{end}}{{end}}`, ".")
	if err != nil {
		return "", err
	}
	rootOnce.Do(func() { rootDir, rootErr = findRoot() })
	root := rootDir
	if rootErr != nil {
		return "", rootErr
	}
	for _, line := range strings.Split(strings.TrimSpace(string(deps)), "\n") {
		depDir, rest, _ := strings.Cut(line, "|")
		if line == "" {
			continue
		}
		if depDir != dir && !within(root, depDir) {
			fmt.Fprintf(h, "dep %s\n", rest)
			continue
		}
		if err := hashFiles(h, root, depDir, false); err != nil {
			return "", err
		}
	}
	// The sdk tree, whatever the package imports of it, and the root
	// module's requirements.
	if err := hashFiles(h, root, filepath.Join(root, "sdk"), true); err != nil {
		return "", err
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		if err := hashFile(h, root, filepath.Join(root, f)); err != nil && !os.IsNotExist(err) {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// within reports whether path is dir or inside it.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// hashFiles hashes the names (relative to root, so that checkouts elsewhere
// share the cache) and contents of the regular files in dir, and
// of its subdirectories if recursive. Tests, testdata and hidden entries do
// not change a build and are left out.
func hashFiles(h io.Writer, root, dir string, recursive bool) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != dir && (!recursive || name == "testdata" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasSuffix(name, "_test.go") || strings.HasPrefix(name, ".") {
			return nil
		}
		return hashFile(h, root, path)
	})
}

func hashFile(h io.Writer, root, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(root, path); err == nil {
		path = filepath.ToSlash(rel)
	}
	fmt.Fprintf(h, "file %s %d\n", path, len(b))
	_, err = h.Write(b)
	return err
}
