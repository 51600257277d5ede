package runtime

import (
	"fmt"

	"github.com/empirefederation/neuron/internal/processor"
)

// Dynamic is the part of the configuration that changes at run time: what
// processors read through the config host function (Settings, then their
// Plugins entry laid over it, over the defaults their manifest declares),
// and the call timeout. Options.Settings and Options.Plugins are the first
// Dynamic; SetDynamic replaces it whole. See docs/design.md, "How does
// configuration change at run time?".
type Dynamic = processor.Dynamic

// SetDynamic validates d and applies it with one atomic store: a call
// either sees all of the previous Dynamic or all of d, its timeout and
// every processor's settings together, never a mix. A call already running
// keeps its timeout; its next read of the configuration sees d. Processors
// loaded later use d too. d is copied, so the caller may reuse its maps.
//
// # Errors
//
// An invalid d is refused whole and the previous Dynamic stays in force:
// settings that do not encode as JSON, an empty processor name, a negative
// call timeout or one above an hour. The error names every offending key.
func (rt *Runtime) SetDynamic(d Dynamic) error {
	dyn, err := processor.NewConfig(d)
	if err != nil {
		return fmt.Errorf("dynamic configuration refused: %w", err)
	}
	rt.svc.Dyn.Store(dyn)
	return nil
}

// Dynamic returns a copy of the Dynamic in force.
func (rt *Runtime) Dynamic() Dynamic { return rt.svc.Dyn.Load().Spec() }
