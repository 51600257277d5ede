package devfed

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/internal/experiment"
)

// commandTypes are the command types of the contract.
var commandTypes = []string{"restart_worker", "reload_plugin", "load_plugin", "unload_plugin", "rollback_plugin",
	"drain", "resume", "set_log_level", "flush_analytics"}

// target reads the "target" of an admin change: "fleet" or a neuron id.
func target(o object) (string, error) {
	t, err := o.str("target", true, maxIDLen)
	if err != nil {
		return "", err
	}
	if t != "fleet" && !neuronIDPattern.MatchString(t) {
		return "", badField("target", `must be "fleet" or a neuron id, got %q`, t)
	}
	return t, nil
}

// validateConfig checks a config as the neuron would check its runtime
// keys (batchSize, maxRetries, timeoutSeconds, enableDebugMode), at the
// top level, under plugins.NAME and as plugins.NAME.KEY; other keys pass
// (the neuron checks them against the settings its processors and its
// local config declare, and answers with reasons).
func validateConfig(o object) error {
	for _, key := range slices.Sorted(maps.Keys(o.m)) {
		v := o.m[key]
		switch {
		case key == "plugins":
			plugins, _, err := o.obj(key)
			if err != nil {
				return err
			}
			for _, name := range slices.Sorted(maps.Keys(plugins.m)) {
				if err := validatePluginConfig(plugins, name); err != nil {
					return err
				}
			}
		case strings.HasPrefix(key, "plugins."):
			if i := strings.LastIndexByte(key, '.'); !isObject(v) && i > len("plugins.") {
				// plugins.NAME.KEY: one setting of processor NAME (setting
				// keys hold no '.', names may).
				if _, _, err := config.RuntimeSetting(key[i+1:], v); err != nil {
					return badField(o.field(key), "%v", err)
				}
				continue
			}
			if err := validatePluginConfig(o, key); err != nil {
				return err
			}
		default:
			if _, _, err := config.RuntimeSetting(key, v); err != nil {
				return badField(o.field(key), "%v", err)
			}
		}
	}
	return nil
}

func isObject(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

// validatePluginConfig checks the settings object o[key] of one processor.
func validatePluginConfig(o object, key string) error {
	sub, found, err := o.obj(key)
	if err != nil {
		return err
	}
	if !found {
		return badField(o.field(key), "must be an object of settings, got null")
	}
	for _, k := range slices.Sorted(maps.Keys(sub.m)) {
		if _, _, err := config.RuntimeSetting(k, sub.m[k]); err != nil {
			return badField(sub.field(k), "%v", err)
		}
	}
	return nil
}

// validateExperiment checks a new experiment, in the reference form
// (variant, optional config) or the split form (plugin, variants,
// stickyKey, guardrails), and returns it as sent to neurons.
func validateExperiment(o object) (federation.Experiment, error) {
	var x federation.Experiment
	id, err := o.str("id", true, maxIDLen)
	if err != nil {
		return x, err
	}
	for _, key := range []string{"stop", "promote"} {
		if o.has(key) {
			return x, badField(o.field(key), "a new experiment cannot stop one: POST /api/admin/experiments/{id}/stop ends it")
		}
	}
	if o.has("plugin") || o.has("variants") {
		err = validateSplit(o)
	} else {
		err = validateReference(o)
	}
	if err != nil {
		return x, err
	}
	raw, err := json.Marshal(o.m)
	if err == nil {
		err = decodeNumbers(raw, &x)
	}
	if err != nil {
		return x, badField(o.path, "%v", err)
	}
	x.ID = id
	if len(x.Variants) > 0 {
		if _, err := experiment.Compile(x); err != nil {
			var inv *experiment.InvalidError
			if errors.As(err, &inv) {
				return x, badField(o.path, "%s", strings.Join(inv.Problems, "; "))
			}
			return x, badField(o.path, "%v", err)
		}
	}
	return x, nil
}

// validateReference checks the reference form: this neuron runs variant,
// with config over its base config.
func validateReference(o object) error {
	if !o.has("variant") {
		return badField(o.field("variant"), "is required: the variant the neuron runs (or give plugin and variants for a traffic split)")
	}
	if _, err := o.str("variant", true, maxNameLen); err != nil {
		return err
	}
	for _, key := range []string{"stickyKey", "guardrails"} {
		if o.has(key) {
			return badField(o.field(key), "belongs to a traffic split (plugin, variants), not to the reference form (variant)")
		}
	}
	cfg, found, err := o.obj("config")
	if err != nil || !found {
		return err
	}
	return validateConfig(cfg)
}

// validateSplit checks the traffic-splitting form.
func validateSplit(o object) error {
	for _, key := range []string{"variant", "config"} {
		if o.has(key) {
			return badField(o.field(key), "belongs to the reference form; in a traffic split each variant has its own config")
		}
	}
	if _, err := o.str("plugin", true, maxNameLen); err != nil {
		return err
	}
	variants, err := o.objects("variants")
	if err != nil {
		return err
	}
	if len(variants) < 2 {
		return badField(o.field("variants"), "needs at least 2 variants (a control and a treatment), got %d", len(variants))
	}
	seen := map[string]bool{}
	sum := 0.0
	for _, v := range variants {
		name, err := v.str("name", true, 128)
		if err != nil {
			return err
		}
		if seen[name] {
			return badField(v.field("name"), "%q is used twice: variant names are unique", name)
		}
		seen[name] = true
		if !v.has("weight") {
			return badField(v.field("weight"), "is required (a whole number from 0 to 100; the weights sum to 100)")
		}
		weight, err := v.whole("weight", 0, 100)
		if err != nil {
			return err
		}
		sum += *weight
		if _, err := v.str("version", false, maxNameLen); err != nil {
			return err
		}
		if cfg, found, err := v.obj("config"); err != nil {
			return err
		} else if found {
			if err := validateConfig(cfg); err != nil {
				return err
			}
		}
	}
	if sum != 100 {
		return badField(o.field("variants"), "weights sum to %v, want 100", sum)
	}
	if err := validateStickyKey(o); err != nil {
		return err
	}
	g, _, err := o.obj("guardrails")
	if err != nil {
		return err
	}
	return checkNumbers(g, map[string]float64{"errorRate": 100, "responseTime": unbounded})
}

// validateStickyKey checks stickyKey: header:NAME, query:NAME or
// json:FIELD.
func validateStickyKey(o object) error {
	key, err := o.str("stickyKey", false, maxNameLen)
	if err != nil || key == "" {
		return err
	}
	kind, name, found := strings.Cut(key, ":")
	if !found || name == "" || (kind != "header" && kind != "query" && kind != "json") {
		return badField(o.field("stickyKey"), "must be header:NAME, query:NAME or json:FIELD, got %q", key)
	}
	return nil
}

// command is a validated command request.
type command struct {
	Target, Type string
	Data         json.RawMessage
}

// validateCommand checks a command request: target, a type of the
// contract, data an object; a load_plugin's ref (see validateLoadPlugin).
func validateCommand(o object) (command, error) {
	var c command
	var err error
	if c.Target, err = target(o); err != nil {
		return c, err
	}
	if c.Type, err = o.str("type", true, maxNameLen); err != nil {
		return c, err
	}
	if !slices.Contains(commandTypes, c.Type) {
		return c, badField("type", "must be one of %s, got %q", strings.Join(commandTypes, ", "), c.Type)
	}
	data, found, err := o.obj("data")
	if err != nil {
		return c, err
	}
	if c.Type == "load_plugin" {
		if err := validateLoadPlugin(data); err != nil {
			return c, err
		}
	}
	c.Data = json.RawMessage("{}")
	if found {
		c.Data, _ = json.Marshal(data.m) // decoded JSON: cannot fail
	}
	return c, nil
}
