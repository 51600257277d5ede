package lifecycle_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/lifecycle"
)

// journal records what the components of a test did, in order.
type journal struct {
	mu    sync.Mutex
	lines []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lines = append(j.lines, s)
}

func (j *journal) get() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.lines)
}

// part is a component that writes its starts and stops in a journal, and
// fails or waits for its context's end as told.
type part struct {
	name string
	j    *journal
	// failStart and failStop make Start and Stop fail; waitStop makes Stop
	// wait for its context to end and return its error.
	failStart, failStop, waitStop bool
}

var errPart = errors.New("part failed")

func (p part) Start(context.Context) error {
	p.j.add("start " + p.name)
	if p.failStart {
		return errPart
	}
	return nil
}

func (p part) Stop(ctx context.Context) error {
	p.j.add("stop " + p.name)
	switch {
	case p.failStop:
		return errPart
	case p.waitStop:
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

var _ lifecycle.Component = part{}

// expired is a context whose deadline has passed.
func expired(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	t.Cleanup(cancel)
	return ctx
}

// TestGroup: components start in order and stop in reverse; a failed
// start stops the ones started before it, in reverse; every stop is
// called even when one fails or the deadline has passed, and the errors
// name their components.
func TestGroup(t *testing.T) {
	for _, tc := range []struct {
		name string
		// parts are a, b and c with these changes.
		parts func(a, b, c *part)
		// stopCtx is the context of Stop (Background when nil).
		stopCtx func(t *testing.T) context.Context
		// wantStartErr and wantStopErr are the substrings the errors must
		// hold, in order; none: the call succeeds.
		wantStartErr, wantStopErr []string
		// wantIs are errors the failing call's error must wrap.
		wantIs  []error
		journal []string
	}{{
		name:    "start in order, stop in reverse",
		parts:   func(a, b, c *part) {},
		journal: []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"},
	}, {
		name:         "a failed start stops the started ones in reverse",
		parts:        func(a, b, c *part) { c.failStart = true },
		wantStartErr: []string{"start c: part failed"},
		wantIs:       []error{errPart},
		journal:      []string{"start a", "start b", "start c", "stop b", "stop a"},
	}, {
		name:         "a failed first start stops nothing",
		parts:        func(a, b, c *part) { a.failStart = true },
		wantStartErr: []string{"start a: part failed"},
		journal:      []string{"start a"},
	}, {
		name:         "a failed start joins the failures of the stops that follow it",
		parts:        func(a, b, c *part) { b.failStart, a.failStop = true, true },
		wantStartErr: []string{"start b: part failed", "stop a: part failed"},
		journal:      []string{"start a", "start b", "stop a"},
	}, {
		name:        "every stop is called when some fail, the errors joined with their names",
		parts:       func(a, b, c *part) { c.failStop, a.failStop = true, true },
		wantStopErr: []string{"stop c: part failed", "stop a: part failed"},
		wantIs:      []error{errPart},
		journal:     []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"},
	}, {
		name:        "a stop that waits ends at the deadline, and the others are still stopped",
		parts:       func(a, b, c *part) { b.waitStop = true },
		stopCtx:     expired,
		wantStopErr: []string{"stop b: context deadline exceeded"},
		wantIs:      []error{context.DeadlineExceeded},
		journal:     []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			j := &journal{}
			a, b, c := &part{name: "a", j: j}, &part{name: "b", j: j}, &part{name: "c", j: j}
			tc.parts(a, b, c)
			var g lifecycle.Group
			err := g.Start(context.Background(), lifecycle.Named{Name: "a", Component: *a},
				lifecycle.Named{Name: "b", Component: *b}, lifecycle.Named{Name: "c", Component: *c})
			wantErr(t, "Start", err, tc.wantStartErr, tc.wantIs)
			if err == nil {
				ctx := context.Background()
				if tc.stopCtx != nil {
					ctx = tc.stopCtx(t)
				}
				wantErr(t, "Stop", g.Stop(ctx), tc.wantStopErr, tc.wantIs)
			}
			if got := j.get(); !slices.Equal(got, tc.journal) {
				t.Errorf("journal %q, want %q", got, tc.journal)
			}
			// Nothing is left to stop.
			n := len(j.get())
			if err := g.Stop(context.Background()); err != nil || len(j.get()) != n {
				t.Errorf("a second Stop: %v, journal %q: want nothing done", err, j.get()[n:])
			}
		})
	}
}

// wantErr checks that err holds want's substrings in order (nil when want
// is empty) and wraps is.
func wantErr(t *testing.T, call string, err error, want []string, is []error) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Errorf("%s: %v, want no error", call, err)
		}
		return
	}
	if err == nil {
		t.Fatalf("%s succeeded, want an error holding %q", call, want)
	}
	rest := err.Error()
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("%s: %q lacks %q (in this order: %q)", call, err, w, want)
			return
		}
		rest = rest[i+len(w):]
	}
	for _, target := range is {
		if !errors.Is(err, target) {
			t.Errorf("%s: %v does not wrap %v", call, err, target)
		}
	}
}

// TestGroup_StartsAfterStart: a second Start adds to the running
// components; a failure in it stops all of them, the first Start's
// included, in reverse.
func TestGroup_StartsAfterStart(t *testing.T) {
	j := &journal{}
	var g lifecycle.Group
	if err := g.Start(context.Background(), lifecycle.Named{Name: "a", Component: part{name: "a", j: j}}); err != nil {
		t.Fatal(err)
	}
	err := g.Start(context.Background(), lifecycle.Named{Name: "b", Component: part{name: "b", j: j}},
		lifecycle.Named{Name: "c", Component: part{name: "c", j: j, failStart: true}})
	wantErr(t, "Start", err, []string{"start c: part failed"}, []error{errPart})
	want := []string{"start a", "start b", "start c", "stop b", "stop a"}
	if got := j.get(); !slices.Equal(got, want) {
		t.Errorf("journal %q, want %q", got, want)
	}
}

// TestOf: the components Of makes run their functions, and nil ones do
// nothing; here on real resources, a loopback listener and a goroutine
// that serves it, stopped in reverse: the server goroutine has returned
// before the listener it served is asserted closed.
func TestOf(t *testing.T) {
	var (
		ln     net.Listener
		served = make(chan error, 1)
		order  []string
	)
	var g lifecycle.Group
	err := g.Start(context.Background(),
		lifecycle.Of("listener", func(context.Context) error {
			var err error
			ln, err = net.Listen("tcp", "127.0.0.1:0")
			return err
		}, func(context.Context) error {
			order = append(order, "listener")
			// Closed already by the server's stop, which came first.
			if err := ln.Close(); err == nil {
				return errors.New("the listener was still open when its stop came")
			}
			return nil
		}),
		lifecycle.Of("nothing to start", nil, func(context.Context) error {
			order = append(order, "nothing to start")
			return nil
		}),
		lifecycle.Of("server", func(context.Context) error {
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						served <- err
						return
					}
					c.Close()
				}
			}()
			return nil
		}, func(ctx context.Context) error {
			order = append(order, "server")
			ln.Close()
			select {
			case <-served:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}),
		lifecycle.Of("nothing to stop", func(context.Context) error { return nil }, nil),
	)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("the started listener: %v", err)
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // bounds the wait for the server goroutine
	defer cancel()
	if err := g.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if want := []string{"server", "nothing to start", "listener"}; !slices.Equal(order, want) {
		t.Errorf("stopped %q, want %q", order, want)
	}
}
