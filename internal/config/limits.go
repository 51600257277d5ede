package config

import (
	"reflect"

	"github.com/empirefederation/neuron/internal/limits"
)

// decodeLimits is the decode hook that turns the checked mapping of a
// limits block (limits, pluginLimits.NAME, maxLimits) into a
// limits.Limits by package limits' own keys: the type is the runtime's
// too, so it carries no koanf tags.
func decodeLimits(_, to reflect.Type, data any) (any, error) {
	m, ok := data.(map[string]any)
	if !ok || to != reflect.TypeFor[limits.Limits]() {
		return data, nil
	}
	return limits.FromMap(m)
}
