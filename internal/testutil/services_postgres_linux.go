//go:build linux

package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pgDirPrefix names the temporary directories of private PostgreSQL
// servers; each holds an owner file with the pid of its test binary.
const pgDirPrefix = "neuron-testpg-"

// startPostgres initializes and starts a private PostgreSQL server and
// returns its URL. skip is set when the machine cannot run one.
func startPostgres() (dsn, skip string, err error) {
	bin := postgresBinDir()
	if bin == "" {
		return "", "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin or PATH: install them (apt-get install postgresql) or set " +
			EnvPostgresURL + "=postgres://user:password@host:port/db?sslmode=disable", nil
	}
	cred, err := postgresCredential()
	if err != nil {
		return "", fmt.Sprintf("%v: PostgreSQL refuses to run as root; create the user (the postgresql package does) or set %s", err, EnvPostgresURL), nil
	}
	pruneStaleDirs()
	base, password, err := preparePostgresDir(cred)
	if err != nil {
		return "", "", err
	}
	if err := initdb(bin, base, cred); err != nil {
		return "", "", err
	}
	var errs []error
	for range 3 { // another process may take the free port first
		addr, err := startPostmaster(bin, base, cred)
		if err == nil {
			return fmt.Sprintf("postgres://postgres:%s@%s/postgres?sslmode=disable", password, addr), "", nil
		}
		errs = append(errs, err)
	}
	return "", "", errors.Join(errs...)
}

// postgresBinDir returns the directory of the newest installed PostgreSQL
// server binaries, or "".
func postgresBinDir() string {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	slices.SortFunc(found, func(a, b string) int { return pgMajor(b) - pgMajor(a) })
	if path, err := exec.LookPath("postgres"); err == nil {
		found = append(found, path)
	}
	for _, path := range found {
		dir := filepath.Dir(path)
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir
		}
	}
	return ""
}

// pgMajor returns the major version in /usr/lib/postgresql/VERSION/bin/postgres.
func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// postgresCredential returns the credential to run the server with: nil
// to run it as ourselves, the postgres user's when we are root.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root and there is no postgres user to run the server as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// pruneStaleDirs removes the directories of private servers whose test
// binary has exited, and ownerless ones old enough not to be in the middle
// of being set up.
func pruneStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), pgDirPrefix+"*"))
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil {
			if info, err := os.Stat(dir); err == nil && time.Since(info.ModTime()) > time.Hour {
				_ = os.RemoveAll(dir)
			}
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
			_ = os.RemoveAll(dir)
		}
	}
}

// preparePostgresDir creates the server's directory, owned by cred, with
// its owner file, a socket directory and a file holding a new password.
func preparePostgresDir(cred *syscall.Credential) (base, password string, err error) {
	if base, err = os.MkdirTemp("", pgDirPrefix); err != nil {
		return "", "", fmt.Errorf("create the server directory: %w", err)
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	password = hex.EncodeToString(key[:])
	err = errors.Join(
		os.WriteFile(filepath.Join(base, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644),
		os.WriteFile(filepath.Join(base, "password"), []byte(password+"\n"), 0o600),
		os.Mkdir(filepath.Join(base, "sock"), 0o700),
	)
	if err == nil && cred != nil {
		for _, name := range []string{"", "password", "sock"} {
			err = errors.Join(err, os.Chown(filepath.Join(base, name), int(cred.Uid), int(cred.Gid)))
		}
	}
	if err != nil {
		return "", "", fmt.Errorf("prepare %s: %w", base, err)
	}
	return base, password, nil
}

// initdb creates the cluster in base/data: trust on the Unix socket,
// scram-sha-256 over TCP with the password in base/password.
func initdb(bin, base string, cred *syscall.Credential) error {
	cmd := exec.Command(filepath.Join(bin, "initdb"), "--pgdata", filepath.Join(base, "data"),
		"--username", "postgres", "--pwfile", filepath.Join(base, "password"),
		"--auth-local", "trust", "--auth-host", "scram-sha-256", "--encoding", "UTF8", "--no-locale", "--no-sync")
	cmd.Dir = base
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	dieWithParent(cmd, syscall.SIGKILL)
	p, err := spawn(cmd)
	if err != nil {
		return err
	}
	if <-p.done; p.err != nil {
		return fmt.Errorf("initdb failed: %s", p.describe())
	}
	return nil
}

// startPostmaster starts the server on a free loopback port and waits
// until it accepts connections. The server gets SIGQUIT (immediate
// shutdown, which releases its shared memory) when the test binary dies.
func startPostmaster(bin, base string, cred *syscall.Credential) (string, error) {
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", filepath.Join(base, "data"),
		"-p", port, "-k", filepath.Join(base, "sock"), "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	cmd.Dir = base
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	dieWithParent(cmd, syscall.SIGQUIT)
	p, err := spawn(cmd)
	if err != nil {
		return "", err
	}
	pidFile := filepath.Join(base, "data", "postmaster.pid")
	err = waitReady(p, func() bool { return postmasterReady(pidFile, p.cmd.Process.Pid) })
	if err != nil {
		p.kill()
		return "", err
	}
	return addr, nil
}

// postmasterReady reports whether the postmaster.pid file says that the
// server with the given pid accepts connections. Unlike a connection
// attempt, it cannot mistake another server on the same port for ours.
func postmasterReady(pidFile string, pid int) bool {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	lines := strings.Split(string(data), "\n")
	// Line 1 is the pid, line 8 the status (PM_STATUS_READY is "ready").
	return len(lines) >= 8 && strings.TrimSpace(lines[0]) == strconv.Itoa(pid) &&
		strings.TrimSpace(lines[7]) == "ready"
}
