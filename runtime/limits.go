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
