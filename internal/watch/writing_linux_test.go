//go:build linux

package watch

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOpenForWriting(t *testing.T) {
	tests := []struct {
		name string
		open func(path string) (*os.File, error) // nil: nothing holds the file
		want bool
	}{
		{"closed", nil, false},
		{"open for reading", os.Open, false},
		{"open for writing", func(p string) (*os.File, error) { return os.OpenFile(p, os.O_WRONLY, 0) }, true},
		{"open for reading and writing", func(p string) (*os.File, error) { return os.OpenFile(p, os.O_RDWR, 0) }, true},
		{"open for appending", func(p string) (*os.File, error) { return os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.wasm")
			if err := os.WriteFile(path, []byte("module"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.open != nil {
				f, err := tc.open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
			}
			if got := openForWriting(path); got != tc.want {
				t.Errorf("openForWriting = %v, want %v", got, tc.want)
			}
			if got := openForWriting(path); got != tc.want {
				t.Errorf("openForWriting, asked again = %v, want %v (the lease was not given back)", got, tc.want)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		if openForWriting(filepath.Join(t.TempDir(), "none.wasm")) {
			t.Error("a missing file is open for writing")
		}
	})
}
