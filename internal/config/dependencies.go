package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/empirefederation/neuron/internal/probe"
)

// Dependencies are probe.Dependency values: this file is their schema, and
// it leaves the kinds and the form of targets to package probe, so that a
// dependency Load accepts is one probe.Start accepts.

// minDependencyInterval keeps a mistyped interval ("1ns") from turning a
// probe into a tight loop.
const minDependencyInterval = 10 * time.Millisecond

// dependenciesSchema is the list of dependencies: every item checked on
// its own, then names checked for uniqueness.
var dependenciesSchema = &node{
	items: &node{
		fields: map[string]*node{
			"name":     {leaf: str(true, checkName("name"))},
			"kind":     {leaf: str(false, checkKind)},
			"target":   {leaf: str(false, nil)},
			"interval": {leaf: duration(true)},
			"timeout":  {leaf: duration(true)},
			"optional": {leaf: boolean},
		},
		check: checkDependency,
	},
	parse: parseDependencies,
	check: checkUniqueNames,
}

// checkKind accepts a probe kind in any case and returns it in lower case.
func checkKind(s string) (string, error) {
	if k := probe.Kind(strings.ToLower(s)); slices.Contains(probe.Kinds(), k) {
		return string(k), nil
	}
	return "", fmt.Errorf("unknown kind %q, want %s", s, probe.KindList())
}

// checkDependency checks one item as a whole: kind and target present,
// target fit for the kind (probe.CheckTarget, whose errors never show a
// password), timeout shorter than interval. It fills the defaults: name =
// kind, interval probe.DefaultInterval, timeout probe.DefaultTimeout or
// half the interval when that is shorter.
func checkDependency(v any, report func(string, error)) any {
	m := v.(map[string]any)
	kind, _ := m["kind"].(string)
	target, _ := m["target"].(string)
	if kind == "" {
		report(".kind", fmt.Errorf("required: %s", probe.KindList()))
	}
	if target == "" {
		report(".target", errors.New("required: what the probe reaches, e.g. host:port"))
	}
	if kind != "" && target != "" {
		if err := probe.CheckTarget(probe.Kind(kind), target); err != nil {
			report(".target", err)
		}
	}
	if name, _ := m["name"].(string); name == "" {
		m["name"] = kind
	}
	interval, ok := m["interval"].(time.Duration)
	if !ok {
		interval = probe.DefaultInterval
		m["interval"] = interval
	}
	timeout, ok := m["timeout"].(time.Duration)
	if !ok {
		timeout = min(probe.DefaultTimeout, interval/2)
		m["timeout"] = timeout
	}
	if interval < minDependencyInterval {
		report(".interval", fmt.Errorf("must be at least %s, got %s", minDependencyInterval, interval))
	} else if timeout >= interval {
		report(".timeout", fmt.Errorf("must be shorter than the interval (%s), got %s", interval, timeout))
	}
	return m
}

// checkUniqueNames refuses two dependencies with the same name.
func checkUniqueNames(v any, report func(string, error)) any {
	seen := map[string]int{}
	for i, it := range v.([]any) {
		name, _ := it.(map[string]any)["name"].(string)
		if j, dup := seen[name]; dup {
			report(fmt.Sprintf("[%d].name", i), fmt.Errorf("%q is already the name of dependencies[%d]; give each a unique name", name, j))
			continue
		}
		seen[name] = i
	}
	return v
}

// parseDependencies reads NEURON_DEPENDENCIES: items separated by ';',
// each [name=]kind:target, into the list YAML would give. The name may be
// left out ("redis:127.0.0.1:6379"); it cannot hold ':', so the first '='
// before any ':' ends it.
func parseDependencies(s string) (any, error) {
	out := []any{}
	for i, it := range strings.Split(s, ";") {
		if it = strings.TrimSpace(it); it == "" {
			continue
		}
		item := map[string]any{}
		if name, rest, ok := strings.Cut(it, "="); ok && !strings.Contains(name, ":") {
			item["name"], it = strings.TrimSpace(name), rest
		}
		kind, target, ok := strings.Cut(it, ":")
		if !ok {
			return nil, fmt.Errorf("item %d: want [name=]kind:target, items separated by ';'", i+1)
		}
		item["kind"], item["target"] = strings.TrimSpace(kind), strings.TrimSpace(target)
		out = append(out, item)
	}
	return out, nil
}
