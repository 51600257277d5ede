package runtime

import (
	"fmt"

	"github.com/empirefederation/neuron/internal/processor"
)

// Dynamic is the part of the configuration that changes at run time: what
// processors read through the config host function (Settings, then their
// Plugins entry laid over it, over the defaults their manifest declares),
// the call timeout and the rate limits. Options.Settings, Options.Plugins
// and Options.RateLimits are the first Dynamic; SetDynamic replaces it
// whole. See docs/design.md, "How does
// configuration change at run time?".
type Dynamic = processor.Dynamic

// SetDynamic validates d and applies it with one atomic store: a call
// either sees all of the previous Dynamic or all of d, its timeout and
// every processor's settings together, never a mix. A call already running
// keeps its timeout; its next read of the configuration sees d. Processors
// loaded later use d too. d is copied, so the caller may reuse its maps.
//
// The rate limits apply just after, to the next request: a caller's
// bucket takes the new rate and burst at its next request, a processor's
// bucket is kept when its rate did not change and starts full when it did.
//
// # Errors
//
// An invalid d is refused whole and the previous Dynamic stays in force:
// settings that do not encode as JSON, an empty processor name, a negative
// call timeout or one above an hour, a rate limit negative or above
// ratelimit.MaxRate. The error names every offending key.
func (rt *Runtime) SetDynamic(d Dynamic) error {
	dyn, err := processor.NewConfig(d)
	if err != nil {
		return fmt.Errorf("dynamic configuration refused: %w", err)
	}
	rt.svc.Dyn.Store(dyn)
	rt.srv.Rate.Set(d.RateLimits)
	return nil
}

// Dynamic returns a copy of the Dynamic in force.
func (rt *Runtime) Dynamic() Dynamic { return rt.svc.Dyn.Load().Spec() }
