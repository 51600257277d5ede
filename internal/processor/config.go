package processor

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/empirefederation/neuron/internal/limits"
	"github.com/empirefederation/neuron/internal/ratelimit"
)

// Dynamic is the part of the configuration that changes at run time: what
// processors read through the config host function, and the call timeout.
// The runtime's Options.Settings and Options.Plugins are the first
// Dynamic; its SetDynamic replaces it whole. A processor reads the settings its manifest declares
// (abi.Manifest.Settings) with Settings, then its Plugins entry, laid over
// them.
type Dynamic struct {
	// Settings is the flat map every processor sees.
	Settings map[string]any
	// Plugins holds per-processor settings, by processor name, laid over
	// Settings in what that processor sees.
	Plugins map[string]map[string]any
	// CallTimeout, when > 0, replaces every processor's call timeout
	// (Limits.CallTimeout, however it was set): the federation's
	// timeoutSeconds is the latest configuration layer. Zero keeps each
	// processor's own.
	CallTimeout time.Duration
	// RateLimits are the processor endpoints' rate limits: the request
	// path applies them (internal/route), processors never see them.
	RateLimits ratelimit.Limits
}

// maxCallTimeout is the longest call timeout accepted, as for Limits.
const maxCallTimeout = time.Hour

// Config is a Dynamic validated and prepared for the request path: every
// processor's configuration already encoded, so that the config host
// function and a call's timeout cost one atomic pointer load and no
// encoding. It is never modified once published. See docs/design.md, "How
// does configuration change at run time?".
type Config struct {
	spec    Dynamic           // a deep copy of what was set, for Spec
	base    []byte            // Settings as JSON: what a processor without settings of its own sees
	configs map[string][]byte // Settings with Plugins[name] laid over, as JSON, by processor name
}

// emptyConfig is the configuration of a processor before it is known which
// one it is (while its module is probed at load).
var emptyConfig = []byte("{}")

// NewConfig validates d and prepares it. Every processor's configuration
// must encode as JSON (no channels, functions, NaN or infinite numbers),
// the call timeout must lie in [0, 1h] and the rate limits pass their
// ratelimit.Limits.Check. The error names every
// offending key.
func NewConfig(d Dynamic) (*Config, error) {
	var errs []error
	if d.CallTimeout < 0 || d.CallTimeout > maxCallTimeout {
		errs = append(errs, fmt.Errorf("callTimeout %s: must be 0 (keep each processor's own) or positive and at most %s", d.CallTimeout, maxCallTimeout))
	}
	if err := d.RateLimits.Check(); err != nil {
		errs = append(errs, err)
	}
	dyn := &Config{configs: make(map[string][]byte, len(d.Plugins))}
	var err error
	if dyn.base, err = encodeConfig(d.Settings, nil); err != nil {
		errs = append(errs, fmt.Errorf("settings: %w", err))
	}
	for name, own := range d.Plugins {
		if name == "" {
			errs = append(errs, errors.New("plugins: a processor name is empty"))
			continue
		}
		if dyn.configs[name], err = encodeConfig(d.Settings, own); err != nil {
			errs = append(errs, fmt.Errorf("plugins.%s: %w", name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	dyn.spec = cloneDynamic(d) // after encoding, which refuses cyclic maps
	return dyn, nil
}

// encodeConfig encodes layers, each laid over the ones before it, as a
// JSON object.
func encodeConfig(layers ...map[string]any) ([]byte, error) {
	merged := map[string]any{}
	for _, l := range layers {
		maps.Copy(merged, l)
	}
	b, err := json.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("not encodable as JSON: %w", err)
	}
	return b, nil
}

// For returns the configuration processor name sees, as JSON, without the
// defaults its manifest declares (see Version.Config).
func (d *Config) For(name string) []byte {
	if b, ok := d.configs[name]; ok {
		return b
	}
	return d.base
}

// declaredConfig is a processor version's configuration with the defaults
// its manifest declares laid under, encoded for the Config dyn.
type declaredConfig struct {
	dyn  *Config
	json []byte
}

// withDefaults returns the configuration of processor name with defaults
// (its manifest's settings) under it: defaults < Settings <
// Plugins[name]. See docs/design.md, "Who sets a processor's settings?".
func (d *Config) withDefaults(name string, defaults map[string]any) *declaredConfig {
	b, err := encodeConfig(defaults, d.spec.Settings, d.spec.Plugins[name])
	if err != nil { // NewConfig encoded the same maps, and defaults are JSON scalars
		b = d.For(name)
	}
	return &declaredConfig{dyn: d, json: b}
}

// CallTimeout returns the timeout of a call to a processor with limits l.
func (d *Config) CallTimeout(l limits.Limits) time.Duration {
	if d.spec.CallTimeout > 0 {
		return d.spec.CallTimeout
	}
	return l.CallTimeout
}

// Over returns the configuration of processor name with over laid on top
// (an experiment variant's config): Settings < Plugins[name] < over.
func (d *Config) Over(name string, over map[string]any) ([]byte, error) {
	return encodeConfig(d.spec.Settings, d.spec.Plugins[name], over)
}

// Spec returns a copy of the Dynamic c was prepared from.
func (c *Config) Spec() Dynamic { return cloneDynamic(c.spec) }

// cloneDynamic copies d's maps, and the maps and slices nested in them, so
// that neither the caller nor the runtime sees the other's changes.
func cloneDynamic(d Dynamic) Dynamic {
	c := Dynamic{Settings: CloneMap(d.Settings), CallTimeout: d.CallTimeout, RateLimits: d.RateLimits}
	c.RateLimits.Plugins = maps.Clone(d.RateLimits.Plugins)
	if d.Plugins != nil {
		c.Plugins = make(map[string]map[string]any, len(d.Plugins))
		for name, own := range d.Plugins {
			c.Plugins[name] = CloneMap(own)
		}
	}
	return c
}

// CloneMap copies m, and the maps and slices nested in it, so that neither
// the caller nor the runtime sees the other's changes.
func CloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = cloneValue(v)
	}
	return c
}

// cloneValue copies the JSON-like containers (map[string]any, []any) in v;
// other values are immutable or the caller's to leave alone.
func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return CloneMap(v)
	case []any:
		c := make([]any, len(v))
		for i, x := range v {
			c[i] = cloneValue(x)
		}
		return c
	}
	return v
}
