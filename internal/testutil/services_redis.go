package testutil

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serverStartLimit bounds how long a private server may take to answer
// after it was started; it only turns a hang into a clear failure.
const serverStartLimit = 30 * time.Second

// Redis returns the host:port of a real Redis server for the test.
//
// When EnvRedisAddr is set (CI sets it), that server is returned; it is
// shared by every test, so use keys of your own and do not flush it.
// Otherwise Redis starts a private server with StartRedis, stopped when
// the test ends. Without either, the test is skipped with a message
// saying how to get one, or failed when EnvServices is "required".
func Redis(tb testing.TB) string {
	tb.Helper()
	if addr := os.Getenv(EnvRedisAddr); addr != "" {
		return addr
	}
	return StartRedis(tb).Addr
}

// RedisServer is a private redis-server process started for one test on
// a loopback port, without persistence. The test may Stop it and Start it
// again on the same address to see how code copes with an outage.
type RedisServer struct {
	// Addr is the server's host:port; it stays the same across restarts.
	Addr string

	tb   testing.TB
	bin  string
	dir  string
	mu   sync.Mutex
	proc *process // nil while stopped
}

// StartRedis starts a private redis-server for this test, even when
// EnvRedisAddr is set, and stops it when the test ends. It skips the test
// (or fails it, see EnvServices) when redis-server is not installed.
func StartRedis(tb testing.TB) *RedisServer {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Unavailable(tb, fmt.Sprintf("redis-server is not installed: install it (apt-get install redis-server) or set %s=host:port of a Redis server", EnvRedisAddr))
	}
	s := &RedisServer{tb: tb, bin: bin, dir: tb.TempDir()}
	tb.Cleanup(s.Stop)
	var errs []error
	for range 3 { // another process may take the free port first
		if s.Addr, err = freeAddr(); err == nil {
			if err = s.start(); err == nil {
				return s
			}
		}
		errs = append(errs, err)
	}
	tb.Fatalf("testutil: start redis-server: %v", errors.Join(errs...))
	return nil
}

// Start starts the server again on its address after Stop; it does
// nothing while the server runs. It fails the test if the server does not
// come up.
func (s *RedisServer) Start() {
	s.tb.Helper()
	if err := s.start(); err != nil {
		s.tb.Fatalf("testutil: restart redis-server on %s: %v", s.Addr, err)
	}
}

// Stop kills the server, as a crash would, and waits until it is gone, so
// connections to Addr are refused once Stop returns. It does nothing when
// the server is stopped.
func (s *RedisServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.kill()
		s.proc = nil
	}
}

func (s *RedisServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return nil
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command(s.bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--daemonize", "no", "--loglevel", "warning")
	dieWithParent(cmd, syscall.SIGKILL)
	p, err := spawn(cmd)
	if err != nil {
		return err
	}
	if err := waitReady(p, func() bool { return redisServes(s.Addr, p.cmd.Process.Pid) }); err != nil {
		p.kill()
		return err
	}
	s.proc = p
	return nil
}

// waitReady polls ready until it holds, and fails if p exits first or
// serverStartLimit passes.
func waitReady(p *process, ready func() bool) error {
	deadline := time.Now().Add(serverStartLimit)
	for !ready() {
		if p.exited() {
			return fmt.Errorf("server exited before it was ready: %s", p.describe())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not ready after %s: %s", serverStartLimit, p.describe())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// redisServes reports whether the Redis server answering at addr is the
// process pid, so that another server that took the port is not mistaken
// for ours.
func redisServes(addr string, pid int) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	if conn.SetDeadline(time.Now().Add(time.Second)) != nil {
		return false
	}
	if _, err := conn.Write([]byte("INFO server\r\n")); err != nil {
		return false
	}
	r := bufio.NewReader(conn)
	header, err := r.ReadString('\n') // $LENGTH of the bulk reply
	if err != nil || !strings.HasPrefix(header, "$") {
		return false
	}
	n, err := strconv.Atoi(strings.TrimSpace(header[1:]))
	if err != nil || n < 0 {
		return false
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return false
	}
	return strings.Contains(string(body), "\r\nprocess_id:"+strconv.Itoa(pid)+"\r\n")
}
