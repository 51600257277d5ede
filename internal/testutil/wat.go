package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Wat assembles the text-format module at path with wabt's wat2wasm and
// returns the binary. flags go to wat2wasm: "--no-check" keeps a module
// that is invalid on purpose, "--enable-tail-call" and the like turn on
// proposals. Hand-written modules are how the tests play a careless or
// hostile processor author; .ci/run installs wabt.
func Wat(tb testing.TB, path string, flags ...string) []byte {
	tb.Helper()
	bin, err := exec.LookPath("wat2wasm")
	if err != nil {
		tb.Fatalf("testutil: wat2wasm not found: install wabt (apt-get install wabt), as .ci/run does")
	}
	out := filepath.Join(tb.TempDir(), filepath.Base(path)+".wasm")
	args := append(append([]string{}, flags...), path, "-o", out)
	if msg, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		tb.Fatalf("testutil: wat2wasm %s: %v\n%s", path, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatalf("testutil: %v", err)
	}
	return b
}
