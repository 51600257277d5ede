package modfile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadFileLimit: the chunked read returns the whole file and its
// sha256 at any size around the chunk, and refuses a file over the limit.
func TestReadFileLimit(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		size    int
		limit   int64
		wantErr string
	}{
		{"empty", 0, 10, ""},
		{"one byte", 1, 10, ""},
		{"a chunk", readChunk, 1 << 20, ""},
		{"a chunk and a byte", readChunk + 1, 1 << 20, ""},
		{"several chunks", 3*readChunk + 17, 1 << 20, ""},
		{"exactly the limit", 100, 100, ""},
		{"one byte over the limit", 101, 100, "larger than 100 bytes"},
		{"chunks over the limit", 5 * readChunk, 2 * readChunk, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := bytes.Repeat([]byte("0123456789abcdef"), tc.size/16+1)[:tc.size]
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(path, want, 0o600); err != nil {
				t.Fatal(err)
			}
			got, digest, err := readFileLimit(path, tc.limit)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) || digest != sha256Hex(want) {
				t.Fatalf("read %d bytes with digest %s; want %d bytes with %s", len(got), digest, len(want), sha256Hex(want))
			}
		})
	}
	if _, _, err := readFileLimit(filepath.Join(dir, "missing"), 10); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}
