package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"
)

// Prober probes a set of dependencies in the background and keeps the
// latest result of each. Its methods are safe for concurrent use and never
// wait for a probe. A nil *Prober has no dependencies: it reports an empty
// status and is healthy, so callers need no special case when none are
// configured.
type Prober struct {
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stop   sync.Once

	mu      sync.RWMutex
	results map[string]Result // by dependency name
}

// Start validates every dependency, reporting all the problems at once
// (duplicate names included), then probes each one straight away and every
// Interval after, each in its own goroutine, until ctx is done or Stop is
// called. Every dependency is StatusUnknown until its first probe ends.
// Changes of status are logged to log (nil discards): WARN with the error
// when a dependency becomes unhealthy, INFO when it becomes healthy; a
// status that stays the same is not logged again.
func Start(ctx context.Context, deps []Dependency, log *slog.Logger) (*Prober, error) {
	if err := validateAll(deps); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &Prober{log: log, cancel: cancel, results: make(map[string]Result, len(deps))}
	for _, d := range deps {
		p.results[d.Name] = Result{Status: StatusUnknown, Optional: d.Optional}
	}
	for _, d := range deps {
		p.wg.Add(1)
		go p.run(ctx, d.withDefaults())
	}
	return p, nil
}

// validateAll joins the validation errors of deps and a duplicate-name
// error for each name used more than once.
func validateAll(deps []Dependency) error {
	var errs []error
	seen := make(map[string]bool, len(deps))
	for _, d := range deps {
		if err := d.Validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[d.Name] {
			errs = append(errs, fmt.Errorf("dependency %q: declared more than once: give each dependency its own name", d.Name))
		}
		seen[d.Name] = true
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dependency probes: %w", err)
	}
	return nil
}

// run probes d until ctx is done.
func (p *Prober) run(ctx context.Context, d Dependency) {
	defer p.wg.Done()
	tick := time.NewTicker(d.Interval)
	defer tick.Stop()
	for {
		r := Check(ctx, d)
		if ctx.Err() != nil {
			return // stopped mid-probe: the failure is ours, not the server's
		}
		p.record(d, r)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// record stores r as the latest result of d and logs a change of status.
func (p *Prober) record(d Dependency, r Result) {
	p.mu.Lock()
	prev := p.results[d.Name]
	p.results[d.Name] = r
	p.mu.Unlock()
	if prev.Status == r.Status {
		return
	}
	attrs := []any{"dependency", d.Name, "kind", d.Kind, "target", redact(d.Target), "previous", prev.Status}
	if r.Status == StatusHealthy {
		p.log.Info("dependency healthy", append(attrs, "latency", r.Latency)...)
		return
	}
	p.log.Warn("dependency unhealthy", append(attrs, "optional", d.Optional, "error", r.Error)...)
}

// Status returns the status of every dependency by name: StatusHealthy,
// StatusUnhealthy or StatusUnknown. The map is the caller's.
func (p *Prober) Status() map[string]string {
	if p == nil {
		return map[string]string{}
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make(map[string]string, len(p.results))
	for name, r := range p.results {
		out[name] = r.Status
	}
	return out
}

// Results returns the latest result of every dependency by name. The map
// is the caller's.
func (p *Prober) Results() map[string]Result {
	if p == nil {
		return map[string]Result{}
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return maps.Clone(p.results)
}

// Healthy reports whether no required (non-optional) dependency is
// unhealthy. A dependency not probed yet does not count against it.
func (p *Prober) Healthy() bool {
	if p == nil {
		return true
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, r := range p.results {
		if r.Status == StatusUnhealthy && !r.Optional {
			return false
		}
	}
	return true
}

// Stop ends the probing and waits for the probes in flight to give up.
// The last results stay readable. Stop may be called more than once.
func (p *Prober) Stop() {
	if p == nil {
		return
	}
	p.stop.Do(func() {
		p.cancel()
		p.wg.Wait()
	})
}
