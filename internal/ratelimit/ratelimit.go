// Package ratelimit owns the token buckets of the processor endpoints: one
// per caller (across every endpoint of the neuron) and one per processor
// (across every caller), their settings (Limits, validated by Check), and
// the bounded table that keeps the callers' buckets. It answers one
// question per request, Allow, and knows nothing of HTTP, of processors or
// of who the caller is: internal/route asks it and answers the 429. It
// must not read requests, log or count metrics.
package ratelimit

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Limits are the rate limits of the processor endpoints. The zero value
// limits nothing.
type Limits struct {
	// Caller is the requests per second one caller may make across every
	// processor endpoint; 0 is unlimited.
	Caller float64
	// CallerBurst is how many requests a caller may make at once (the
	// size of its bucket); 0 is one second's worth, ceil(Caller), at
	// least 1.
	CallerBurst int
	// Plugins are the requests per second each processor, by name, takes
	// across every caller, with one second's worth at once; absent or 0
	// is unlimited.
	Plugins map[string]float64
}

// MaxRate is the highest rate accepted, requests per second: beyond it a
// limit would never be reached by one neuron, and it keeps bursts in int.
const MaxRate = 1e6

// Check reports every problem of l, each naming its key: the keys are the
// configuration's (rateLimit, rateBurst, rateLimits.NAME).
func (l Limits) Check() error {
	var errs []error
	if !(l.Caller >= 0 && l.Caller <= MaxRate) {
		errs = append(errs, fmt.Errorf("rateLimit %v: must be from 0 (unlimited) to %v requests per second", l.Caller, float64(MaxRate)))
	}
	if l.CallerBurst < 0 || l.CallerBurst > MaxRate {
		errs = append(errs, fmt.Errorf("rateBurst %d: must be from 0 (one second's worth of rateLimit) to %d requests", l.CallerBurst, int(MaxRate)))
	}
	for _, name := range slices.Sorted(maps.Keys(l.Plugins)) {
		if r := l.Plugins[name]; name == "" || !(r >= 0 && r <= MaxRate) {
			errs = append(errs, fmt.Errorf("rateLimits.%s %v: needs a processor name and a rate from 0 (unlimited) to %v requests per second", name, r, float64(MaxRate)))
		}
	}
	return errors.Join(errs...)
}

// burst is the bucket size of rate r given burst b (0: one second's worth).
func burst(r float64, b int) int {
	if b > 0 {
		return b
	}
	return max(1, int(math.Ceil(r)))
}

// Scope says which bucket refused a request.
type Scope string

// The scopes of a refusal, the values of the scope label of
// neuron_rate_limited_total.
const (
	ScopeCaller Scope = "caller"
	ScopePlugin Scope = "plugin"
)

// Refusal is a request over a limit: which bucket refused it, that
// bucket's size, and how long until it holds a request again.
type Refusal struct {
	Scope Scope
	Burst int
	Wait  time.Duration
}

// Limiter applies Limits. The zero value is not usable: use New. Its
// methods are safe for concurrent use.
type Limiter struct {
	// state is nil while nothing is limited: Allow is one atomic load.
	state   atomic.Pointer[state]
	callers *table
}

// state is one Limits in force: the per-processor buckets are made with it
// and replaced when a new Limits changes their rate.
type state struct {
	limits  Limits
	burst   int // the callers' bucket size
	plugins map[string]*rate.Limiter
}

// New returns a Limiter limiting nothing, that keeps at most maxCallers
// callers' buckets (at least 1).
func New(maxCallers int) *Limiter {
	return &Limiter{callers: newTable(max(1, maxCallers))}
}

// Set puts l in force. A processor whose rate did not change keeps its
// bucket; a changed caller rate applies to every caller's bucket at its
// next request. l must have passed Check.
func (lim *Limiter) Set(l Limits) {
	if l.Caller == 0 && !slices.ContainsFunc(slices.Collect(maps.Values(l.Plugins)), func(r float64) bool { return r > 0 }) {
		lim.state.Store(nil)
		lim.callers.clear()
		return
	}
	old := lim.state.Load()
	s := &state{limits: l, burst: burst(l.Caller, l.CallerBurst), plugins: map[string]*rate.Limiter{}}
	s.limits.Plugins = maps.Clone(l.Plugins)
	for name, r := range l.Plugins {
		if r <= 0 {
			continue
		}
		if old != nil && old.limits.Plugins[name] == r && old.plugins[name] != nil {
			s.plugins[name] = old.plugins[name]
			continue
		}
		s.plugins[name] = rate.NewLimiter(rate.Limit(r), burst(r, 0))
	}
	if l.Caller == 0 {
		lim.callers.clear()
	}
	lim.state.Store(s)
}

// Limits returns the Limits in force.
func (lim *Limiter) Limits() Limits {
	s := lim.state.Load()
	if s == nil {
		return Limits{}
	}
	l := s.limits
	l.Plugins = maps.Clone(l.Plugins)
	return l
}

// Allow takes one request of caller to processor plugin at now from their
// buckets, or returns the Refusal of the first bucket that is empty: the
// caller's, then the processor's. A request the processor's bucket refuses
// has still taken the caller's token: the caller did make it.
func (lim *Limiter) Allow(caller, plugin string, now time.Time) (Refusal, bool) {
	s := lim.state.Load()
	if s == nil {
		return Refusal{}, true
	}
	if s.limits.Caller > 0 {
		b := lim.callers.get(caller, s, now)
		if !b.AllowN(now, 1) {
			return refusal(ScopeCaller, b, now), false
		}
	}
	if b := s.plugins[plugin]; b != nil && !b.AllowN(now, 1) {
		return refusal(ScopePlugin, b, now), false
	}
	return Refusal{}, true
}

// refusal describes bucket b, just found empty at now. Wait is the delay a
// reservation of one token would get: the token missing, refilled at the
// bucket's rate. It is computed from the tokens left rather than by
// reserving and cancelling, which would allocate.
func refusal(scope Scope, b *rate.Limiter, now time.Time) Refusal {
	missing := 1 - b.TokensAt(now)
	wait := time.Duration(missing / float64(b.Limit()) * float64(time.Second))
	return Refusal{Scope: scope, Burst: b.Burst(), Wait: max(wait, 0)}
}

// Callers is the number of callers' buckets kept now.
func (lim *Limiter) Callers() int { return lim.callers.len() }
