//go:build unix

package testutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// envFailChild makes TestRunUnprivilegedChild fail, for
// TestRunUnprivilegedReportsFailure.
const envFailChild = "NEURON_TESTUTIL_FAIL_CHILD"

// TestRunUnprivileged: the test body runs as a user other than root, who
// cannot write where only root may, and has a temporary directory.
func TestRunUnprivileged(t *testing.T) {
	rootOnly := ""
	if os.Geteuid() == 0 {
		rootOnly = t.TempDir() // 0700, root's: the child must not get in
		t.Setenv("NEURON_TESTUTIL_ROOT_ONLY", rootOnly)
	}
	if RunUnprivileged(t) {
		return
	}
	if os.Geteuid() == 0 {
		t.Fatal("RunUnprivileged returned false as root")
	}
	if dir := os.Getenv("NEURON_TESTUTIL_ROOT_ONLY"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o600); err == nil {
			t.Fatalf("wrote into root's %s", dir)
		}
	}
	if err := os.WriteFile(filepath.Join(t.TempDir(), "x"), nil, 0o600); err != nil {
		t.Fatalf("t.TempDir is not ours: %v", err)
	}
}

// TestRunUnprivilegedChild is run by TestRunUnprivilegedReportsFailure in
// a child process, where it fails; elsewhere it passes having done nothing.
func TestRunUnprivilegedChild(t *testing.T) {
	if os.Getenv(envFailChild) != "" {
		t.Error("failing on purpose")
	}
}

// TestRunUnprivilegedReportsFailure: a child that fails, and one that runs
// no test, are errors that carry the child's output.
func TestRunUnprivilegedReportsFailure(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root can run a test as another user") // nothing to check: RunUnprivileged runs no child
	}
	t.Setenv(envFailChild, "1")
	out, err := runAs(t, nobodyCredential(), "TestRunUnprivilegedChild")
	if err == nil || !strings.Contains(out, "failing on purpose") {
		t.Errorf("a failing child: error %v, output:\n%s", err, out)
	}
	out, err = runAs(t, nobodyCredential(), "TestNoSuchTest")
	if err == nil || !strings.Contains(err.Error(), "no test") {
		t.Errorf("a child running no test: error %v, output:\n%s", err, out)
	}
}

func TestRunPattern(t *testing.T) {
	for name, want := range map[string]string{
		"TestA":          "^TestA$",
		"TestA/sub_1":    "^TestA$/^sub_1$",
		"TestA/a.b(c)+d": `^TestA$/^a\.b\(c\)\+d$`,
	} {
		if got := runPattern(name); got != want {
			t.Errorf("runPattern(%q) = %q, want %q", name, got, want)
		}
	}
}
