package testutil

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// The environment variables that point tests at servers started outside
// them. .ci/run starts Redis and PostgreSQL, sets the first two, and sets
// EnvServices to "required" so that anything CI provides and a test finds
// missing fails CI instead of skipping the test.
const (
	// EnvRedisAddr is the host:port of a Redis server for tests.
	EnvRedisAddr = "NEURON_TEST_REDIS_ADDR"
	// EnvPostgresURL is the URL of a PostgreSQL server for tests, such as
	// postgres://postgres:secret@127.0.0.1:5432/postgres?sslmode=disable.
	EnvPostgresURL = "NEURON_TEST_POSTGRES_URL"
	// EnvServices, set to "required", turns every skip for want of
	// something CI provides (a server, a tool, an unprivileged user) into
	// a failure: see Unavailable.
	EnvServices = "NEURON_TEST_SERVICES"
)

// Unavailable ends a test that cannot run here because something it needs
// and CI provides is missing: a server (Redis, PostgreSQL), a tool (clang
// for wasm32-wasi, Chromium, Debian's python3 with aiohttp), an
// unprivileged user. why says what is missing and how to get it. The test
// is skipped, or failed when EnvServices is "required", as .ci/run sets it
// after installing everything: a test CI requires can then never pass by
// not running. Skips that are right everywhere (-short, another operating
// system or architecture) call tb.Skip themselves.
func Unavailable(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv(EnvServices) == "required" {
		tb.Fatalf("%s (%s=required, so this fails instead of skipping)", why, EnvServices)
		return
	}
	tb.Skip(why)
}

// freeAddr returns a loopback address with a port that was free a moment
// ago. A server started on it may still lose a race for the port; callers
// retry with another.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// process is a server started by a test.
type process struct {
	cmd  *exec.Cmd
	out  *Buffer       // stdout and stderr together
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // what Wait returned; read after done
}

// spawn starts cmd with its output collected in the returned process.
//
// The process is started from a goroutine locked to its OS thread that
// stays alive until the process exits. On Linux a parent-death signal is
// tied to the thread that started the child, not to the process, so
// starting from a thread the Go runtime might retire could kill the server
// in the middle of a test; this way the signal fires only when the test
// binary itself dies.
func spawn(cmd *exec.Cmd) (*process, error) {
	p := &process{cmd: cmd, out: new(Buffer), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	return p, nil
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill kills the process and waits until it has been reaped.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// describe says how the process ended, with the tail of its output, for
// an error message.
func (p *process) describe() string {
	state := "still running"
	if p.exited() {
		state = fmt.Sprintf("exited: %v", p.err)
	}
	out := p.out.String()
	if len(out) > 4000 {
		out = "..." + out[len(out)-4000:]
	}
	return fmt.Sprintf("%s %s: %s\n%s", p.cmd.Path, strings.Join(p.cmd.Args[1:], " "), state, out)
}
