// Package pool keeps a bounded set of reusable instances with a bounded wait
// queue. It knows nothing of Wasm: the runtime gives it functions that create
// and destroy an instance. It imports only the standard library and must not
// import wazero or the runtime: when an instance misbehaves, or must go, is
// the caller's judgement, which the caller hands back through Discard and
// Retire.
//
// A pool never holds more than Max instances and never lets more than Queue
// callers wait; a caller past that gets ErrQueueFull at once, so a burst of
// traffic costs a fast refusal rather than unbounded memory. Instances that
// misbehave are handed back with Discard and replaced on demand; idle
// instances above Min are closed by Shrink. Instances an operator wants
// replaced (a restart) are handed back with Retire, or taken out of the idle
// set with RetireIdle; either way the pool refills to Min in the background.
//
// Get hands out the most recently used idle instance first (a stack, not a
// queue): a quiet processor settles on few warm instances, sequential calls
// meet the same instance and its state, and the instances left idle at the
// bottom are the ones Shrink closes. See docs/design.md, "Why does the pool
// hand out its most recently used instance?".
package pool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrQueueFull is returned by Get when Queue callers are already waiting.
var ErrQueueFull = errors.New("pool: all instances busy and the wait queue is full")

// ErrWaitTimeout is returned by Get when no instance became free within
// MaxWait.
var ErrWaitTimeout = errors.New("pool: no instance became free in time")

// ErrClosed is returned by Get once Close has begun.
var ErrClosed = errors.New("pool: closed")

// closePoll is how often Close checks whether busy instances came back.
const closePoll = 5 * time.Millisecond

// Config sizes a pool.
type Config[T any] struct {
	Min, Max, Queue int
	// MaxWait bounds how long Get waits for an instance; zero means only
	// ctx bounds it. Callers that find an instance at once start no timer.
	MaxWait time.Duration
	// New creates an instance. It runs on the caller's goroutine.
	New func(ctx context.Context) (T, error)
	// Destroy releases an instance. It must tolerate any instance New made.
	Destroy func(T)
}

// Pool is a bounded pool of instances of T. Its methods are safe for
// concurrent use.
type Pool[T any] struct {
	cfg Config[T]
	// idle are the idle instances, the most recently used last; freed
	// signals a waiting caller that Put pushed one (see GetWithin).
	mu        sync.Mutex
	idle      []entry[T]
	freed     chan struct{}
	tokens    chan struct{} // one per live instance: sending acquires a slot
	done      chan struct{}
	closed    atomic.Bool
	refilling atomic.Bool
	starting  atomic.Int64 // instances refill is creating
	waiting   atomic.Int64

	created, discarded, retired atomic.Uint64
}

type entry[T any] struct {
	v    T
	used time.Time
}

// Stats is a point-in-time view of a pool, for metrics.
type Stats struct {
	Busy, Idle, Waiting int
	// Starting counts instances being created in the background to bring
	// the pool back to its minimum; they are neither busy nor idle yet.
	Starting           int
	Created, Discarded uint64
	// Retired counts instances replaced on request (Retire, RetireIdle)
	// rather than for misbehaving.
	Retired uint64
}

// New returns a pool with cfg, holding no instances yet; call Fill to create
// the minimum.
func New[T any](cfg Config[T]) *Pool[T] {
	cfg.Max = max(cfg.Max, 1)
	cfg.Min = min(max(cfg.Min, 0), cfg.Max)
	return &Pool[T]{
		cfg:    cfg,
		idle:   make([]entry[T], 0, cfg.Max),
		freed:  make(chan struct{}, cfg.Max),
		tokens: make(chan struct{}, cfg.Max),
		done:   make(chan struct{}),
	}
}

// Fill creates instances until Min exist. An error leaves the pool with the
// instances made so far; the caller closes it.
func (p *Pool[T]) Fill(ctx context.Context) error {
	for len(p.tokens) < p.cfg.Min {
		p.tokens <- struct{}{}
		v, err := p.create(ctx)
		if err != nil {
			return err
		}
		p.Put(v)
	}
	return nil
}

// Get returns an idle instance, or creates one while fewer than Max exist,
// or waits for one. It fails with ErrQueueFull when Queue callers already
// wait, with ErrWaitTimeout after MaxWait, with ctx's error when ctx ends
// first, and with ErrClosed after Close.
func (p *Pool[T]) Get(ctx context.Context) (T, error) { return p.GetWithin(ctx, p.cfg.MaxWait) }

// GetWithin is Get with maxWait in place of Config.MaxWait, for callers whose
// bound on waiting changes at run time (zero means only ctx bounds it).
func (p *Pool[T]) GetWithin(ctx context.Context, maxWait time.Duration) (T, error) {
	if p.closed.Load() {
		var zero T
		return zero, ErrClosed
	}
	if v, ok := p.pop(); ok {
		return v, nil
	}
	select {
	case p.tokens <- struct{}{}:
		return p.create(ctx)
	default:
	}
	if p.closed.Load() {
		var zero T
		return zero, ErrClosed
	}
	if p.waiting.Add(1) > int64(p.cfg.Queue) {
		p.waiting.Add(-1)
		var zero T
		return zero, ErrQueueFull
	}
	defer p.waiting.Add(-1)
	var expired <-chan time.Time
	if maxWait > 0 {
		t := time.NewTimer(maxWait)
		defer t.Stop()
		expired = t.C
	}
	var zero T
	// Counted as waiting, a caller misses no instance: Put pushes, then
	// signals freed when someone waits, and the caller pops after it
	// counted itself and after each signal. A signal whose instance
	// another caller took wakes it for nothing, and it waits again.
	for {
		if v, ok := p.pop(); ok {
			return v, nil
		}
		select {
		case <-p.freed:
		case p.tokens <- struct{}{}:
			return p.create(ctx)
		case <-ctx.Done():
			return zero, ctx.Err()
		case <-expired:
			return zero, ErrWaitTimeout
		case <-p.done:
			return zero, ErrClosed
		}
	}
}

// pop takes the most recently used idle instance, if any.
func (p *Pool[T]) pop() (T, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		var zero T
		return zero, false
	}
	e := p.idle[n-1]
	p.idle[n-1] = entry[T]{} // do not pin the instance
	p.idle = p.idle[:n-1]
	return e.v, true
}

// takeIdle removes and returns every idle instance, least recently used
// first.
func (p *Pool[T]) takeIdle() []entry[T] {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.idle
	p.idle = make([]entry[T], 0, p.cfg.Max)
	return out
}

// putIdle returns instances takeIdle took and the caller kept, below those
// Put pushed meanwhile (used more recently), keeping them in order.
func (p *Pool[T]) putIdle(kept []entry[T]) {
	if len(kept) == 0 {
		return
	}
	p.mu.Lock()
	p.idle = append(kept, p.idle...)
	p.mu.Unlock()
	p.signal()
}

// signal wakes a caller waiting for an idle instance, if one waits.
func (p *Pool[T]) signal() {
	if p.waiting.Load() > 0 {
		select {
		case p.freed <- struct{}{}:
		default: // enough wake-ups pending: each waiter pops again
		}
	}
}

// create makes an instance for a slot the caller already holds.
func (p *Pool[T]) create(ctx context.Context) (T, error) {
	if p.closed.Load() {
		<-p.tokens
		var zero T
		return zero, ErrClosed
	}
	v, err := p.cfg.New(ctx)
	if err != nil {
		<-p.tokens
		return v, err
	}
	p.created.Add(1)
	return v, nil
}

// Put returns a healthy instance for reuse. After Close it destroys it.
func (p *Pool[T]) Put(v T) {
	if p.closed.Load() {
		p.destroy(v)
		return
	}
	p.mu.Lock()
	p.idle = append(p.idle, entry[T]{v, time.Now()})
	p.mu.Unlock()
	p.signal()
}

// Discard destroys an instance that must not be reused (it trapped, timed
// out or broke a limit) and frees its slot for a fresh one.
func (p *Pool[T]) Discard(v T) {
	p.discarded.Add(1)
	p.destroy(v)
	p.refillIfLow()
}

// Retire destroys a healthy instance that was asked to be replaced (a
// restart) and frees its slot; the pool refills to Min in the background.
// It is Discard counted apart, so that metrics tell restarts from faults.
func (p *Pool[T]) Retire(v T) {
	p.retired.Add(1)
	p.destroy(v)
	p.refillIfLow()
}

// RetireIdle retires every idle instance for which match returns true and
// returns how many it retired. Busy instances are the caller's to retire
// when they come back.
func (p *Pool[T]) RetireIdle(match func(T) bool) int {
	n := 0
	var kept []entry[T]
	for _, e := range p.takeIdle() {
		if match(e.v) {
			p.retired.Add(1)
			p.destroy(e.v)
			n++
			continue
		}
		kept = append(kept, e)
	}
	p.putIdle(kept)
	p.refillIfLow()
	return n
}

// refillIfLow starts a background refill when fewer than Min instances
// exist and none is running.
func (p *Pool[T]) refillIfLow() {
	if len(p.tokens) < p.cfg.Min && p.refilling.CompareAndSwap(false, true) {
		go p.refill()
	}
}

// refill brings the pool back to Min after discards, in the background, so
// that the next callers find ready instances rather than pay for creating
// them. A failure leaves the pool as it is; callers then create on demand.
func (p *Pool[T]) refill() {
	defer p.refilling.Store(false)
	for !p.closed.Load() {
		select {
		case p.tokens <- struct{}{}:
		default:
			return // full
		}
		if len(p.tokens) > p.cfg.Min {
			<-p.tokens // callers took the pool back to Min meanwhile
			return
		}
		p.starting.Add(1)
		v, err := p.create(context.Background())
		p.starting.Add(-1)
		if err != nil {
			return
		}
		p.Put(v)
	}
}

func (p *Pool[T]) destroy(v T) {
	p.cfg.Destroy(v)
	<-p.tokens
}

// Shrink destroys idle instances unused for longer than idleFor while more
// than Min exist, so that a pool grown by a spike returns to its floor.
func (p *Pool[T]) Shrink(idleFor time.Duration) {
	cutoff := time.Now().Add(-idleFor)
	var kept []entry[T]
	for _, e := range p.takeIdle() {
		if len(p.tokens) > p.cfg.Min && e.used.Before(cutoff) {
			p.destroy(e.v)
			continue
		}
		kept = append(kept, e)
	}
	p.putIdle(kept)
}

// Stats returns the pool's current counts.
func (p *Pool[T]) Stats() Stats {
	p.mu.Lock()
	idle := len(p.idle)
	p.mu.Unlock()
	live, starting := len(p.tokens), int(p.starting.Load())
	return Stats{
		Busy:      max(live-idle-starting, 0),
		Idle:      idle,
		Starting:  starting,
		Waiting:   int(p.waiting.Load()),
		Created:   p.created.Load(),
		Discarded: p.discarded.Load(),
		Retired:   p.retired.Load(),
	}
}

// Close stops handing out instances, destroys idle ones at once and busy ones
// as they come back, and returns when all are destroyed or ctx ends. Waiting
// callers get ErrClosed. Close is idempotent.
func (p *Pool[T]) Close(ctx context.Context) error {
	if p.closed.CompareAndSwap(false, true) {
		close(p.done)
	}
	tick := time.NewTicker(closePoll)
	defer tick.Stop()
	for len(p.tokens) > 0 {
		// Destroy idle instances first, every round: a Put that began
		// before Close may still push one.
		for _, e := range p.takeIdle() {
			p.destroy(e.v)
		}
		if len(p.tokens) == 0 {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("pool: %d instances still busy: %w", len(p.tokens), context.Cause(ctx))
		}
	}
	return nil
}
