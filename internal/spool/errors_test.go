package spool

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/empirefederation/neuron/internal/testutil"
)

func TestErrors(t *testing.T) {
	s := openT(t, Options{Dir: t.TempDir(), MaxBytes: 100})
	if err := s.Append(make([]byte, 100)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append(too large) = %v, want ErrTooLarge", err)
	}
	if _, err := Open(Options{}); err == nil {
		t.Fatal("Open without a directory succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	calls := map[string]error{
		"Append":   s.Append([]byte("x")),
		"Remove":   s.Remove(1),
		"SetAside": s.SetAside(1, "x"),
	}
	_, _, _, calls["Peek"] = s.Peek()
	for name, err := range calls {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

func TestOneProcessPerDirectory(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock on windows")
	}
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir})
	if _, err := Open(Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("second Open = %v, want an error naming another process", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	openT(t, Options{Dir: dir})
}

// TestNotWritable: a spool whose directory cannot be written says so. Root
// may write anywhere, so as root the test runs as the user nobody.
func TestNotWritable(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs POSIX permissions")
	}
	if testutil.RunUnprivileged(t) {
		return
	}
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir})
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	err := s.Append([]byte("x"))
	if err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("Append into a read-only directory = %v, want a 'not writable' hint", err)
	}
}

func TestWithHint(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{syscall.ENOSPC, "disk full"},
		{syscall.EROFS, "read-only"},
		{os.ErrPermission, "not writable"},
		{os.ErrNotExist, ""},
	}
	for _, tt := range tests {
		got := withHint(&os.PathError{Op: "open", Path: "/x", Err: tt.err}, "/x")
		if !errors.Is(got, tt.err) {
			t.Errorf("withHint(%v) lost the cause: %v", tt.err, got)
		}
		if tt.want != "" && !strings.Contains(got.Error(), tt.want) {
			t.Errorf("withHint(%v) = %q, want it to mention %q", tt.err, got, tt.want)
		}
	}
}
