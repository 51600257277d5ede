package modfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/internal/signature"
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
			if !bytes.Equal(got, want) || digest != SHA256Hex(want) {
				t.Fatalf("read %d bytes with digest %s; want %d bytes with %s", len(got), digest, len(want), SHA256Hex(want))
			}
		})
	}
	if _, _, err := readFileLimit(filepath.Join(dir, "missing"), 10); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

// TestReadFile_Signature: the signature file beside a module is read
// with it, is part of its fingerprint, and is what Verify checks; one
// that cannot be read matters only to a neuron that trusts keys.
func TestReadFile_Signature(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "k")
	pub, err := signature.GenerateKey(keyPath+".key", keyPath+".pub")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := signature.LoadPrivateKey(keyPath + ".key")
	if err != nil {
		t.Fatal(err)
	}
	trust := signature.NewVerifier(pub)
	path := filepath.Join(dir, "p.wasm")
	write := func(path string, b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	read := func() *File {
		t.Helper()
		f, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	write(path, append(slices.Clone(wasmMagic), 1, 0, 0, 0))
	write(SidecarPath(path), []byte(`{"name": "p"}`))

	unsigned := read()
	if err := unsigned.Verify(nil); err != nil {
		t.Errorf("no trusted key: %v", err)
	}
	if err := unsigned.Verify(trust); !errors.Is(err, signature.ErrUnsigned) || !strings.Contains(err.Error(), "neuron plugin sign --key KEY.key p.wasm") {
		t.Errorf("unsigned: %v", err)
	}

	var sf signature.File
	sf.Sign(priv, unsigned.Subject())
	write(signature.Path(path), sf.Marshal())
	signed := read()
	if err := signed.Verify(trust); err != nil {
		t.Errorf("signed: %v", err)
	}
	if signed.Fingerprint() == unsigned.Fingerprint() {
		t.Error("adding a signature file leaves the fingerprint as it was: a rejected file would not be tried again")
	}

	write(SidecarPath(path), []byte(`{"name": "q"}`))
	if err := read().Verify(trust); !errors.Is(err, signature.ErrBadSignature) {
		t.Errorf("sidecar changed after signing: %v", err)
	}

	write(signature.Path(path), make([]byte, signature.MaxFileBytes+1))
	big := read()
	if err := big.Verify(nil); err != nil {
		t.Errorf("an oversized signature file matters to a neuron that trusts no key: %v", err)
	}
	if err := big.Verify(trust); err == nil || !strings.Contains(err.Error(), "p.wasm.sig: larger than") {
		t.Errorf("oversized signature file: %v", err)
	}
}
