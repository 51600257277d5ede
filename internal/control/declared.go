package control

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/empirefederation/neuron/internal/jsonkind"
	"github.com/empirefederation/neuron/runtime"
)

// declarations are the settings the loaded processors declare in their
// manifests (abi.Manifest.Settings), by processor name: what a federation
// may set under plugins.NAME without the operator declaring it first. See
// docs/design.md, "Who sets a processor's settings?".
type declarations struct {
	// keys maps each loaded processor to its declared keys and their
	// defaults: a key any loaded version declares, with the serving
	// version's default when it declares the key (its type is the one a
	// value is checked against), else another version's.
	keys map[string]map[string]any
}

// declared reads the declarations of the processor versions loaded.
func declared(infos []runtime.ProcessorInfo) *declarations {
	d := &declarations{keys: map[string]map[string]any{}}
	// Serving versions first, so that their defaults win.
	infos = slices.Clone(infos)
	slices.SortStableFunc(infos, func(a, b runtime.ProcessorInfo) int {
		switch {
		case a.Serving == b.Serving:
			return 0
		case a.Serving:
			return -1
		}
		return 1
	})
	for _, p := range infos {
		keys := d.keys[p.Name]
		if keys == nil {
			keys = map[string]any{}
			d.keys[p.Name] = keys
		}
		for k, def := range p.Manifest.Settings {
			if _, ok := keys[k]; !ok {
				keys[k] = def
			}
		}
	}
	return d
}

// has reports whether processor name is loaded. A nil d knows none.
func (d *declarations) has(name string) bool {
	if d == nil {
		return false
	}
	_, ok := d.keys[name]
	return ok
}

// lookup returns the default processor name declares for key.
func (d *declarations) lookup(name, key string) (any, bool) {
	if d == nil {
		return nil, false
	}
	def, ok := d.keys[name][key]
	return def, ok
}

// declaring lists the loaded processors that declare key, sorted.
func (d *declarations) declaring(key string) []string {
	if d == nil {
		return nil
	}
	var names []string
	for name, keys := range d.keys {
		if _, ok := keys[key]; ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// loadedNames lists the loaded processors for an error message.
func (d *declarations) loadedNames() string {
	if d == nil || len(d.keys) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(d.keys)), ", ")
}

// describe lists keys with the JSON kind of each value, sorted:
// "greeting (string), maxItems (number)".
func describe(m map[string]any) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s (%s)", k, jsonkind.Of(m[k])))
	}
	return strings.Join(parts, ", ")
}

// pins are the settings the operator pinned (the config file's
// pinnedSettings): no federation update may set them, so the value the
// config file gives (or the processor's default) stays. An entry is a
// flat settings key ("timeoutSeconds"), one processor's key
// ("plugins.hello.greeting") or all of a processor's settings
// ("plugins.hello.*").
type pins map[string]bool

// newPins indexes the pinnedSettings entries.
func newPins(entries []string) pins {
	p := pins{}
	for _, e := range entries {
		p[e] = true
	}
	return p
}

// match returns the entry that pins key of processor name, or of the flat
// settings when name is "".
func (p pins) match(name, key string) (string, bool) {
	if name == "" {
		return key, p[key]
	}
	for _, e := range [...]string{"plugins." + name + "." + key, "plugins." + name + ".*"} {
		if p[e] {
			return e, true
		}
	}
	return "", false
}

// pinnedError is the refusal of a pinned key.
func pinnedError(entry string) error {
	return fmt.Errorf("pinned by the operator (pinnedSettings: %s in the neuron's config file); the federation may not set it", entry)
}
