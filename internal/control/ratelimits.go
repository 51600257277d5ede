package control

import (
	"maps"
	"strings"

	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/runtime"
)

// rateLimits lays the rate limit keys of settings (rateLimit, rateBurst,
// rateLimits.NAME), already checked by config.RuntimeSetting, over the
// configured limits base: each key set replaces its own value, so a
// federation update that sets one processor's rate keeps the others'.
func rateLimits(base runtime.RateLimits, settings map[string]any) runtime.RateLimits {
	l := base
	l.Plugins = maps.Clone(base.Plugins)
	if v, ok := settings[config.SettingRateLimit]; ok {
		l.Caller = toFloat(v)
	}
	if v, ok := settings[config.SettingRateBurst]; ok {
		l.CallerBurst = int(toFloat(v))
	}
	for key, v := range settings {
		if name, ok := strings.CutPrefix(key, config.SettingRateLimitsPrefix); ok {
			if l.Plugins == nil {
				l.Plugins = map[string]float64{}
			}
			l.Plugins[name] = toFloat(v)
		}
	}
	return l
}
