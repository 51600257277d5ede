package abi

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The Rust processor in docs/abi.md compiles under edition 2024 (rustc's
// default for new crates). Checked for the host target: rustc cannot
// link a wasm32-wasip1 cdylib without that target installed, and the
// language rules are the same.
func TestDocsRustExampleCompiles(t *testing.T) {
	rustc, err := exec.LookPath("rustc")
	if err != nil {
		t.Skip("rustc not installed")
	}
	doc, err := os.ReadFile("../../docs/abi.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```rust\n")
	code, _, closed := strings.Cut(rest, "```")
	if !ok || !closed {
		t.Fatal("docs/abi.md has no ```rust block")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "lib.rs")
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(rustc, "--edition", "2024", "--crate-type", "cdylib", "-D", "warnings",
		"-o", filepath.Join(dir, "lib.so"), src).CombinedOutput()
	if err != nil {
		t.Fatalf("rustc --edition 2024: %v\n%s", err, out)
	}
}
