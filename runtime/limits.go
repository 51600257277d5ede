package runtime

import (
	"errors"
	"fmt"

	"github.com/empirefederation/neuron/internal/limits"
)

// Limits bound what one processor may use; a zero field means "inherit".
// The type is package limits', which configuration shares without
// importing the runtime: its defaults are limits.Default, the operator's
// default maximums limits.DefaultMax and the neuron's hard maximums
// limits.HardMax. See docs/design.md, "Who sets a processor's limits?".
type Limits = limits.Limits

// beyondManifest refuses a manifest asking for more than the operator
// allows, naming each limit, its maximum and the key that raises it.
func beyondManifest(asked, maximums Limits) error {
	var errs []error
	for _, x := range asked.Beyond(maximums) {
		errs = append(errs, fmt.Errorf("the manifest asks for %s %s, above the operator's maximum of %s: lower it in the manifest, or the operator raises maxLimits.%s",
			x.Key, x.Value, x.Max, x.Key))
	}
	return errors.Join(errs...)
}

// beyondOperator refuses operator limits (at key, such as "limits" or
// "pluginLimits.NAME") above the operator's maximums.
func beyondOperator(key string, l, maximums Limits) error {
	var errs []error
	for _, x := range l.Beyond(maximums) {
		errs = append(errs, fmt.Errorf("%s.%s %s is above maxLimits.%s %s: lower it or raise maxLimits.%s",
			key, x.Key, x.Value, x.Key, x.Max, x.Key))
	}
	return errors.Join(errs...)
}
