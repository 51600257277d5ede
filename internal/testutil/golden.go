package testutil

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

// update is the -update flag of every test binary that uses Golden:
// `go test -run TestX -update ./pkg/` rewrites TestX's golden files from
// what the test computes, instead of comparing with them.
var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from what the tests compute (testutil.Golden)")

// Golden compares want, what the test computed from the source of truth
// (the reference guide, a script's output), with the checked-in file at
// path, and fails saying how to remake the file when they differ. With
// -update it writes want to path instead. Each testdata folder with golden
// files says in its README which test and flag remake them.
func Golden(tb testing.TB, path string, want []byte) {
	tb.Helper()
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			tb.Fatalf("testutil: update %s: %v", path, err)
		}
		tb.Logf("updated %s", path)
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("testutil: %v (make it with: go test -run '^%s$' -update)", err, tb.Name())
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("%s (%d bytes) is not what it is made from (%d bytes): remake it with go test -run '^%s$' -update, and review the diff\nwant:\n%s",
			path, len(got), len(want), tb.Name(), want)
	}
}
