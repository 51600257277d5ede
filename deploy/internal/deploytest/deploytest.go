// Package deploytest holds what the deployment artifacts' tests share: the
// neuron binary they run, built once per test binary from the repository
// the deploy module sits in, and a buffer a process writes its log into
// while a test reads it. Tests only.
package deploytest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Root is the neuron repository's root: the deploy module's parent.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

var (
	buildOnce sync.Once
	buildDir  string
	neuron    string
	buildErr  error
)

// Neuron builds the neuron from the repository (./cmd/neuron), once per
// test binary, and returns its path. Main removes it.
func Neuron(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "neuron-deploy-test-"); buildErr != nil {
			return
		}
		neuron = filepath.Join(buildDir, "neuron")
		cmd := exec.Command("go", "build", "-o", neuron, "./cmd/neuron")
		cmd.Dir = Root()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building the neuron: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return neuron
}

// Main runs the tests and removes what Neuron built; a package's TestMain
// calls it.
func Main(m *testing.M) int {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	return code
}

// Buffer collects a process's output while the test reads it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
