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
	"github.com/empirefederation/neuron/internal/jsonkind"
)

// layer is a validated federation update's configuration: the flat
// settings and the per-processor settings, normalized (integers int64,
// numbers float64).
type layer struct {
	Settings map[string]any            `json:"settings,omitempty"`
	Plugins  map[string]map[string]any `json:"plugins,omitempty"`
}

// validator checks an update's config against what the neuron knows: the
// runtime's own keys (config.RuntimeSetting), the settings the loaded
// processors declare in their manifests, and the keys the operator
// declared under settings and plugins.NAME. A federation can only set what
// the neuron knows, so a typo is refused instead of silently ignored; and
// never a key the operator pinned.
type validator struct {
	settings map[string]any            // declared in the local config
	plugins  map[string]map[string]any // declared per processor
	pinned   pins
	// loaded are the settings the loaded processors declare; nil while
	// they are not known (the last good config restored at start, before
	// any processor loads), when a processor's keys are kept as they were
	// accepted.
	loaded *declarations
	// guardrails are a split experiment's default guardrails.
	guardrails federation.Guardrails
}

// config validates a flat config map (with per-processor settings under
// "plugins" as an object, as "plugins.NAME" keys holding objects, or as
// "plugins.NAME.KEY" keys holding values) and returns it normalized. where
// prefixes key names in errors ("config", "experiment.config").
func (v validator) config(where string, raw map[string]any) (layer, []error) {
	out := layer{Settings: map[string]any{}, Plugins: map[string]map[string]any{}}
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		val := raw[key]
		switch {
		case key == "plugins":
			m, ok := val.(map[string]any)
			if !ok {
				errs = append(errs, fmt.Errorf("%s.plugins must be an object of processor name → settings, got %s", where, jsonkind.A(val)))
				continue
			}
			for _, name := range slices.Sorted(maps.Keys(m)) {
				errs = append(errs, v.plugin(where, name, m[name], out)...)
			}
		case strings.HasPrefix(key, "plugins."):
			name := strings.TrimPrefix(key, "plugins.")
			if _, isObject := val.(map[string]any); !isObject && strings.Contains(name, ".") {
				// plugins.NAME.KEY: setting keys hold no '.', names may.
				i := strings.LastIndexByte(name, '.')
				val = map[string]any{name[i+1:]: val}
				name = name[:i]
			}
			errs = append(errs, v.plugin(where, name, val, out)...)
		default:
			norm, err := v.setting(key, val)
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
		return []error{fmt.Errorf("%s.plugins.%s must be an object of settings, got %s", where, name, jsonkind.A(val))}
	}
	if name == "" {
		return []error{fmt.Errorf("%s.plugins: empty processor name", where)}
	}
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(m)) {
		norm, err := v.pluginSetting(name, key, m[key])
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

// setting checks one key of the flat settings: not pinned, then a runtime
// key by its own rule, a key declared under settings by the JSON kind of
// its declared value.
func (v validator) setting(key string, val any) (any, error) {
	if entry, ok := v.pinned.match("", key); ok {
		return nil, pinnedError(entry)
	}
	if norm, ok, err := config.RuntimeSetting(key, val); ok {
		return norm, err
	}
	if base, ok := v.settings[key]; ok {
		return typed(val, base, "its declared value")
	}
	err := "unknown key; the neuron accepts its runtime keys (batchSize, maxRetries, timeoutSeconds, enableDebugMode, rateLimit, rateBurst, rateLimits.NAME) and keys declared under settings or plugins.NAME in its config file: declare it there to let the federation set it"
	if names := v.loaded.declaring(key); len(names) > 0 {
		err += fmt.Sprintf("; a processor's own setting is set as plugins.NAME.%s (declared by %s)", key, strings.Join(names, ", "))
	}
	return nil, errors.New(err)
}

// pluginSetting checks one key of processor name's settings: not pinned,
// then a runtime key by its own rule, a key the loaded processor declares
// by the JSON kind of its default, a key the operator declared (under
// settings or plugins.NAME) by the kind of the declared value.
func (v validator) pluginSetting(name, key string, val any) (any, error) {
	if entry, ok := v.pinned.match(name, key); ok {
		return nil, pinnedError(entry)
	}
	if norm, ok, err := config.RuntimeSetting(key, val); ok {
		return norm, err
	}
	if def, ok := v.loaded.lookup(name, key); ok {
		return typed(val, def, name+"'s declared default")
	}
	if base, ok := v.plugins[name][key]; ok {
		return typed(val, base, "its declared value")
	}
	if base, ok := v.settings[key]; ok {
		return typed(val, base, "its declared value")
	}
	switch {
	case v.loaded == nil:
		return normalize(val), nil // restored: accepted when it was applied
	case v.loaded.has(name):
		return nil, fmt.Errorf("%s declares no setting %q; %s", name, key, v.declaredKeys(name))
	case v.plugins[name] != nil:
		return nil, fmt.Errorf("unknown key; %s is not loaded, and the config file declares %s for it: declare the key under plugins.%s there to let the federation set it", name, describe(v.plugins[name]), name)
	}
	return nil, fmt.Errorf("no processor %q is loaded, so no setting of it can be checked; loaded: %s", name, v.loaded.loadedNames())
}

// declaredKeys says which keys of loaded processor name the federation may
// set: those it declares and those the operator declared for it.
func (v validator) declaredKeys(name string) string {
	s := "it declares no settings"
	if keys := v.loaded.keys[name]; len(keys) > 0 {
		s = "it declares " + describe(keys)
	}
	if own := v.plugins[name]; len(own) > 0 {
		s += "; the config file declares " + describe(own) + " for it"
	}
	return s
}

// typed returns val normalized if it has the JSON kind of base, which is
// what: "its declared value", "hello's declared default".
func typed(val, base any, what string) (any, error) {
	norm := normalize(val)
	if jsonkind.Of(norm) != jsonkind.Of(base) {
		return nil, fmt.Errorf("must be %s like %s, got %s", jsonkind.A(base), what, jsonkind.A(norm))
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
