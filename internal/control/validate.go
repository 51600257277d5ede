package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/config"
)

// layer is a validated federation update's configuration: the flat
// settings and the per-processor settings, normalized (integers int64,
// numbers float64).
type layer struct {
	Settings map[string]any            `json:"settings,omitempty"`
	Plugins  map[string]map[string]any `json:"plugins,omitempty"`
}

// validator checks an update's config against what the neuron knows: the
// runtime's own keys (config.RuntimeSetting) and the keys the operator
// declared under settings and plugins.NAME. A federation can only set what
// the neuron knows, so a typo is refused instead of silently ignored.
type validator struct {
	settings map[string]any            // declared in the local config
	plugins  map[string]map[string]any // declared per processor
	// guardrails are a split experiment's default guardrails.
	guardrails federation.Guardrails
}

// config validates a flat config map (with per-processor settings under
// "plugins" as an object, or as "plugins.NAME" keys) and returns it
// normalized. where prefixes key names in errors ("config", "experiment.config").
func (v validator) config(where string, raw map[string]any) (layer, []error) {
	out := layer{Settings: map[string]any{}, Plugins: map[string]map[string]any{}}
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		val := raw[key]
		switch {
		case key == "plugins":
			m, ok := val.(map[string]any)
			if !ok {
				errs = append(errs, fmt.Errorf("%s.plugins must be an object of processor name → settings, got %s", where, kind(val)))
				continue
			}
			for _, name := range slices.Sorted(maps.Keys(m)) {
				errs = append(errs, v.plugin(where, name, m[name], out)...)
			}
		case strings.HasPrefix(key, "plugins."):
			errs = append(errs, v.plugin(where, strings.TrimPrefix(key, "plugins."), val, out)...)
		default:
			norm, err := v.setting(key, val, v.settings)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.%s: %w", where, key, err))
				continue
			}
			out.Settings[key] = norm
		}
	}
	return out, errs
}

func (v validator) plugin(where, name string, val any, out layer) []error {
	m, ok := val.(map[string]any)
	if !ok {
		return []error{fmt.Errorf("%s.plugins.%s must be an object of settings, got %s", where, name, kind(val))}
	}
	if name == "" {
		return []error{fmt.Errorf("%s.plugins: empty processor name", where)}
	}
	declared := maps.Clone(v.settings)
	if declared == nil {
		declared = map[string]any{}
	}
	maps.Copy(declared, v.plugins[name])
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(m)) {
		norm, err := v.setting(key, m[key], declared)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.plugins.%s.%s: %w", where, name, key, err))
			continue
		}
		if out.Plugins[name] == nil {
			out.Plugins[name] = map[string]any{}
		}
		out.Plugins[name][key] = norm
	}
	return errs
}

// setting checks one key: a runtime key by its own rule, a declared key by
// the JSON kind of its declared value.
func (v validator) setting(key string, val any, declared map[string]any) (any, error) {
	if norm, ok, err := config.RuntimeSetting(key, val); ok {
		return norm, err
	}
	base, ok := declared[key]
	if !ok {
		return nil, fmt.Errorf("unknown key; the neuron accepts its runtime keys (batchSize, maxRetries, timeoutSeconds, enableDebugMode) and keys declared under settings or plugins.NAME in its config file: declare it there to let the federation set it")
	}
	norm := normalize(val)
	if kind(norm) != kind(base) {
		return nil, fmt.Errorf("must be %s like its declared value, got %s", kind(base), kind(norm))
	}
	return norm, nil
}

// experiment validates an experiment. The reference guide's form: this
// neuron runs variant, with config over the base config (the returned
// layer). The traffic-splitting form (plugin, variants) is validated by
// split and returns no layer: each variant carries its own config.
func (v validator) experiment(e *federation.Experiment) (layer, []error) {
	if e.ID == "" {
		return layer{}, []error{errors.New("experiment.id is required")}
	}
	if e.Stop {
		return layer{}, nil
	}
	if isSplit(e) {
		_, errs := v.split(e)
		return layer{}, errs
	}
	var errs []error
	if e.Variant == "" {
		errs = append(errs, fmt.Errorf("experiment %s: variant is required (or \"stop\": true to end it); a traffic split names plugin and variants", e.ID))
	}
	if e.StickyKey != "" || e.Guardrails != nil || e.Promote != "" {
		errs = append(errs, fmt.Errorf("experiment %s: stickyKey, guardrails and promote belong to a traffic split (plugin, variants)", e.ID))
	}
	l, cerrs := v.config("experiment.config", e.Config)
	return l, append(errs, cerrs...)
}

// normalize turns json.Number into int64 when integral, else float64, deeply.
func normalize(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	case int:
		return int64(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

// kind names a JSON kind: integers and floats are both "a number".
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case int, int64, uint64, float64, json.Number:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}
