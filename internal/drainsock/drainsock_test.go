package drainsock

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// calls is a Target whose calls in progress the test sets.
type calls struct {
	draining atomic.Bool
	n        atomic.Int64
}

func (c *calls) Drain()        { c.draining.Store(true) }
func (c *calls) InFlight() int { return int(c.n.Load()) }

// shortDir is a temporary directory whose socket path fits sun_path
// whatever the test's name.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ds")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func listen(t *testing.T, dir string, c *calls) *Server {
	t.Helper()
	s, err := Listen(dir, c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A drain answers once the calls in progress are done, and not before;
// one whose calls outlast its wait says how many are left.
func TestDrain(t *testing.T) {
	dir := shortDir(t)
	c := &calls{}
	listen(t, dir, c)
	if fi, err := os.Stat(filepath.Join(dir, File)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v, %v; want mode 0600", fi, err)
	}

	c.n.Store(2)
	done := make(chan error, 1)
	var res Result
	go func() {
		var err error
		res, err = Drain(context.Background(), dir, time.Minute)
		done <- err
	}()
	for i := 0; !c.draining.Load(); i++ { // the drain has begun
		if i > 6000 {
			t.Fatal("the neuron was never told to drain")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Drain returned (%v) with 2 calls in progress", err)
	default:
	}
	c.n.Store(0)
	if err := <-done; err != nil || !res.Draining || res.InFlight != 0 {
		t.Fatalf("Drain: %+v, %v; want drained", res, err)
	}

	c.n.Store(3)
	res, err := Drain(context.Background(), dir, 0)
	if err == nil || res.InFlight != 3 || !strings.Contains(err.Error(), "3 calls were still in progress") {
		t.Errorf("a drain whose calls outlast its wait: %+v, %v", res, err)
	}
}

// A socket a dead neuron left is replaced; one a live neuron serves is
// not; a data directory too deep for a socket path is refused with what
// to do; no neuron there is an error that says so.
func TestListen(t *testing.T) {
	dir := shortDir(t)
	stale, err := net.Listen("unix", filepath.Join(dir, File))
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close() // the file stays, nothing answers
	listen(t, dir, &calls{})
	if _, err := Listen(dir, &calls{}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "another neuron answers") {
		t.Errorf("a second neuron on the same data directory: %v", err)
	}
	deep := filepath.Join(dir, strings.Repeat("d", 120))
	if _, err := Listen(deep, &calls{}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "shorter data directory") {
		t.Errorf("a path too long: %v", err)
	}
	if _, err := Drain(context.Background(), shortDir(t), time.Second); err == nil || !strings.Contains(err.Error(), "is it running") {
		t.Errorf("no neuron: %v", err)
	}
}
