// Package lifecycle starts the parts of a long-running program in order
// and stops them in reverse, in one place: a Group of named Components,
// each with Start(ctx) and Stop(ctx). A start that fails stops what
// already started, in reverse; a stop that fails does not keep the others
// from stopping, and its error carries the component's name. The order is
// the list's, so adding a component is one line and its shutdown order is
// the mirror of where it starts. It owns only that ordering: what a
// component does, and what its Stop does with the deadline, is the
// component's (the agent's list is Agent.components in internal/agent).
// It imports nothing of the neuron and must stay a leaf, so that any
// package can hand it components.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Component is one part of a program with a lifetime: it is started once,
// then stopped once.
type Component interface {
	// Start starts the component; ctx bounds the starting, not the
	// component's life (a component that keeps goroutines detaches them
	// from ctx's cancellation). When Start fails, the component has
	// released what it took: Stop is not called.
	Start(ctx context.Context) error
	// Stop stops the component, waiting for it within ctx's deadline. It
	// is called even when ctx has ended, so that a late component still
	// frees what it holds (abruptly, then).
	Stop(ctx context.Context) error
}

// Funcs is a Component made of two functions; a nil one does nothing. It
// suits the steps of a program that are not types of their own.
type Funcs struct {
	OnStart, OnStop func(ctx context.Context) error
}

// Start calls OnStart, if set.
func (f Funcs) Start(ctx context.Context) error { return call(ctx, f.OnStart) }

// Stop calls OnStop, if set.
func (f Funcs) Stop(ctx context.Context) error { return call(ctx, f.OnStop) }

func call(ctx context.Context, fn func(context.Context) error) error {
	if fn == nil {
		return nil
	}
	return fn(ctx)
}

var _ Component = Funcs{}

// Named is a Component with the name its errors carry.
type Named struct {
	Name string
	Component
}

// Of names a Component made of start and stop (either may be nil).
func Of(name string, start, stop func(ctx context.Context) error) Named {
	return Named{Name: name, Component: Funcs{OnStart: start, OnStop: stop}}
}

// Group runs components: Start in the list's order, Stop in reverse. Its
// methods are safe for concurrent use.
type Group struct {
	mu      sync.Mutex
	running []Named // started and not stopped yet, in start order
}

// Start starts components one after the other, each when the previous one
// has started. If one fails, Start stops the ones started before it (by
// this call or an earlier one), in reverse, with ctx, and returns the
// failure, "start NAME: ...", joined with the errors of those stops.
func (g *Group) Start(ctx context.Context, components ...Named) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range components {
		if err := c.Start(ctx); err != nil {
			err = fmt.Errorf("start %s: %w", c.Name, err)
			return errors.Join(err, g.stopLocked(ctx))
		}
		g.running = append(g.running, c)
	}
	return nil
}

// Stop stops every running component in the reverse of the order they
// started, each with ctx, and each even when another's Stop failed or ctx
// has ended. It returns the failures, each "stop NAME: ...", joined. A
// second Stop has nothing left to stop.
func (g *Group) Stop(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stopLocked(ctx)
}

func (g *Group) stopLocked(ctx context.Context) error {
	var errs []error
	for i := len(g.running) - 1; i >= 0; i-- {
		c := g.running[i]
		if err := c.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", c.Name, err))
		}
	}
	g.running = nil
	return errors.Join(errs...)
}
