package atomicfile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/atomicfile"
)

// Replace writes what differs, leaves what is the same untouched, and
// removes a file for nil (a file already gone is no error).
func TestReplace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "f")
	read := func() (string, error) {
		b, err := os.ReadFile(path)
		return string(b), err
	}
	if err := atomicfile.Replace(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if got, err := read(); err != nil || got != "one" {
		t.Fatalf("after a first Replace: %q, %v", got, err)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Replace(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || !st.ModTime().Equal(old) {
		t.Errorf("the same content was written again: %v, %v", st.ModTime(), err)
	}
	if err := atomicfile.Replace(path, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if got, err := read(); err != nil || got != "two" {
		t.Fatalf("after a change: %q, %v", got, err)
	}
	for range 2 {
		if err := atomicfile.Replace(path, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := read(); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("after Replace with nil: %v, want no file", err)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}
