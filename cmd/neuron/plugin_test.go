package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/empirefederation/neuron/internal/testutil"
)

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "0 endpoints", 1: "1 endpoint", 2: "2 endpoints"} {
		if got := plural(n, "endpoint"); got != want {
			t.Errorf("plural(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestBytesIEC(t *testing.T) {
	for n, want := range map[int64]string{
		8 * pageBytes: "512 KiB", 2048 * pageBytes: "128 MiB", 16384 * pageBytes: "1 GiB",
		4 << 20: "4 MiB", 1000: "1000 B", 0: "0 B", 1536: "1536 B", 3 << 10: "3 KiB",
	} {
		if got := bytesIEC(n); got != want {
			t.Errorf("bytesIEC(%d) = %q, want %q", n, got, want)
		}
	}
}

// The files `neuron --help` sends a processor author to exist.
func TestUsageDocsExist(t *testing.T) {
	docs := regexp.MustCompile(`\b(?:sdk|docs)/[A-Za-z]+\.md\b`).FindAllString(usage, -1)
	if len(docs) < 2 {
		t.Fatalf("the usage names %q, want sdk/README.md and docs/abi.md", docs)
	}
	for _, doc := range docs {
		if _, err := os.Stat(filepath.Join(testutil.RepoRoot(t), doc)); err != nil {
			t.Errorf("neuron --help points to %s: %v", doc, err)
		}
	}
}
