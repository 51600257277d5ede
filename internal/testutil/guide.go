package testutil

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// GuideBlock returns the code block of the reference guide
// (api-only-neuron-reference.md) that follows the line heading, with its
// final newline: what the tests' verbatim copies of the guide's examples
// must equal. The guide is checked out beside the repository with the
// project's shared files (../shared/reference/), not in it, so the test is
// skipped where it is not there: the checked-in copies still serve every
// other test.
func GuideBlock(tb testing.TB, heading string) []byte {
	tb.Helper()
	path := filepath.Join(RepoRoot(tb), "..", "shared", "reference", "api-only-neuron-reference.md")
	guide, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		tb.Skipf("the reference guide is not checked out beside the repository (%v)", err)
	}
	if err != nil {
		tb.Fatalf("testutil: %v", err)
	}
	_, rest, ok := bytes.Cut(guide, []byte("\n"+heading+"\n"))
	if ok {
		_, rest, ok = bytes.Cut(rest, []byte("```"))
	}
	if ok {
		_, rest, ok = bytes.Cut(rest, []byte("\n")) // the fence's language
	}
	var block []byte
	if ok {
		block, _, ok = bytes.Cut(rest, []byte("\n```\n"))
	}
	if !ok {
		tb.Fatalf("testutil: %s has no %q section with a code block", path, heading)
	}
	return append(block, '\n')
}
