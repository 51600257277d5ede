//go:build unix

package testutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// nobody is the uid and gid RunUnprivileged uses when the system has no
// "nobody" user: 65534, nobody's on Debian and most Linux systems.
const nobody = 65534

// RunUnprivileged makes the calling test run as an unprivileged user,
// for tests of what root is allowed to do anyway (write into a read-only
// directory, say), which would otherwise skip as root and so never run in
// CI. As any other user it returns false at once: the test goes on in this
// process. As root it runs the test again in a copy of the test binary as
// the user nobody, passes the child's output on, fails the test when the
// child fails, skips or fails it (see Unavailable) when the child skips or
// cannot be started as nobody, and returns true: the caller returns at
// once.
//
//	if testutil.RunUnprivileged(t) {
//		return
//	}
//
// The child has a temporary directory of its own for TMPDIR and HOME, so
// t.TempDir works in it; it cannot read files only root can, such as the
// repository when it is checked out in root's home directory.
func RunUnprivileged(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return false
	}
	cred := nobodyCredential()
	out, err := runAs(t, cred, t.Name())
	t.Logf("the test as uid %d:\n%s", cred.Uid, out)
	switch {
	case errors.Is(err, errCannotStart): // a container with no other uid, say
		Unavailable(t, fmt.Sprintf("testutil: the test as an unprivileged user: %v", err))
	case err != nil:
		t.Fatalf("testutil: the test as an unprivileged user: %v", err)
	case strings.Contains(out, "--- SKIP: "+t.Name()):
		Unavailable(t, "the test skipped as an unprivileged user; its output is above")
	}
	return true
}

// errCannotStart is runAs's error when the child cannot be started as the
// user at all, as where root may not change user.
var errCannotStart = errors.New("cannot start the test binary")

// nobodyCredential is the credential of the user nobody, with no
// supplementary groups (root's would otherwise be kept).
func nobodyCredential() *syscall.Credential {
	uid, gid := uint32(nobody), uint32(nobody)
	if u, err := user.Lookup("nobody"); err == nil {
		if n, err := strconv.ParseUint(u.Uid, 10, 32); err == nil {
			uid = uint32(n)
		}
		if n, err := strconv.ParseUint(u.Gid, 10, 32); err == nil {
			gid = uint32(n)
		}
	}
	return &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}
}

// runAs runs the test called name (a subtest's full name too) in a copy of
// the running test binary as cred, and returns its verbose output. It is
// an error when the child exits non-zero or runs no test.
//
// The binary is copied because the go command builds it in a directory
// only its owner may enter.
func runAs(t *testing.T, cred *syscall.Credential, name string) (string, error) {
	dir, err := os.MkdirTemp("", "neuron-unprivileged-")
	if err != nil {
		return "", fmt.Errorf("make a directory for the copy of the test binary: %w", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	home := filepath.Join(dir, "home")
	errs := []error{os.Chmod(dir, 0o755), os.Mkdir(home, 0o700)}
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("prepare %s: %w", dir, err)
	}
	if err := os.Chown(home, int(cred.Uid), int(cred.Gid)); err != nil {
		return "", fmt.Errorf("give %s to uid %d: %w", home, cred.Uid, err)
	}
	bin := filepath.Join(dir, "test")
	if err := copyExecutable(bin); err != nil {
		return "", err
	}
	ctx := context.Background()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, bin, "-test.run", runPattern(name), "-test.count", "1", "-test.v")
	cmd.Dir = home
	cmd.Env = append(os.Environ(), "TMPDIR="+home, "HOME="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("%w as uid %d: %w", errCannotStart, cred.Uid, err)
	}
	err = cmd.Wait()
	out := buf.String()
	switch {
	case err != nil:
		return out, fmt.Errorf("%s as uid %d: %w", name, cred.Uid, err)
	case !strings.Contains(out, "=== RUN   "+name+"\n"):
		return out, fmt.Errorf("%s as uid %d: the child ran no test of that name", name, cred.Uid)
	}
	return out, nil
}

// runPattern is the -test.run pattern that matches the test called name
// and nothing else: each level of a subtest's name anchored on its own.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// copyExecutable copies the running executable to path, executable by all.
func copyExecutable(path string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the test binary: %w", err)
	}
	src, err := os.Open(self)
	if err != nil {
		return fmt.Errorf("copy the test binary: %w", err)
	}
	defer src.Close()
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return fmt.Errorf("copy the test binary: %w", err)
	}
	_, err = io.Copy(dst, src)
	if err := errors.Join(err, dst.Close()); err != nil {
		return fmt.Errorf("copy the test binary to %s: %w", path, err)
	}
	return nil
}
