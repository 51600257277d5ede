package config

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// node is one level of the configuration schema. Exactly one of its fields
// is set: fields (an object with known keys), each (a map whose keys are
// names, e.g. processors, and whose values all share one shape), free (a
// mapping whose content is not ours to check) or leaf (a value).
type node struct {
	fields map[string]*node
	each   *node
	free   bool
	leaf   func(v any) (any, error) // parses, validates and normalizes
}

// maxMemoryPages is the most a 32-bit Wasm memory can have: 4 GiB.
const maxMemoryPages = 65536

// limitsSchema describes a runtime.Limits: the top-level defaults and every
// per-processor override.
var limitsSchema = &node{fields: map[string]*node{
	"memoryPages":      {leaf: integer(maxMemoryPages)},
	"callTimeout":      {leaf: duration(false)},
	"maxBodyBytes":     {leaf: integer(math.MaxInt64)},
	"maxResponseBytes": {leaf: integer(math.MaxInt64)},
	"poolMin":          {leaf: integer(math.MaxInt32)},
	"poolMax":          {leaf: integer(math.MaxInt32)},
	"poolQueue":        {leaf: integer(math.MaxInt32)},
}}

// schema is every key Load accepts. Keys match the koanf tags of Config.
var schema = &node{fields: map[string]*node{
	"id":              {leaf: str(true, checkID)},
	"name":            {leaf: str(true, nil)},
	"listen":          {leaf: str(false, checkListen)},
	"baseUrl":         {leaf: str(true, checkHTTPURL)},
	"pluginsDir":      {leaf: str(false, nil)},
	"dataDir":         {leaf: str(false, nil)},
	"logLevel":        {leaf: str(false, checkLogLevel)},
	"shutdownTimeout": {leaf: duration(false)},
	"federation": {fields: map[string]*node{
		"url":                {leaf: str(true, checkFederationURL)},
		"heartbeatInterval":  {leaf: duration(true)},
		"analyticsInterval":  {leaf: duration(true)},
		"configPollInterval": {leaf: duration(true)},
	}},
	"limits":           limitsSchema,
	"pluginLimits":     {each: limitsSchema},
	"plugins":          {each: &node{free: true}},
	"settings":         {free: true},
	"allowPermissions": {leaf: list(checkPermission)},
}}

// layer is one source of configuration, before checking: a nested map and
// a way to name, in an error, where a key of it came from.
type layer struct {
	raw   map[string]any
	where func(key string) string
}

// checker walks layers against the schema. It collects every problem
// instead of stopping at the first, and remembers which layer last set each
// key so that checks across keys can name their sources.
type checker struct {
	errs []error
	prov map[string]string // key → where it was last set
}

// check returns l's content, checked and normalized: durations are
// time.Duration, integers int64, lists []string, nulls dropped.
func (c *checker) check(l layer) map[string]any {
	out, _ := c.walk(l, "", l.raw, schema).(map[string]any)
	return out
}

func (c *checker) walk(l layer, key string, v any, n *node) any {
	if v == nil {
		return nil // "key:" with no value: as if absent
	}
	if n.leaf != nil {
		out, err := n.leaf(v)
		if err != nil {
			c.errs = append(c.errs, fmt.Errorf("config: %s in %s: %w", key, l.where(key), err))
			return nil
		}
		c.prov[key] = l.where(key)
		return out
	}
	m, ok := asMap(v)
	if !ok {
		c.errs = append(c.errs, fmt.Errorf("config: %s in %s: must be a mapping, not %s", key, l.where(key), typeName(v)))
		return nil
	}
	if n.free {
		return normalize(m)
	}
	out := make(map[string]any, len(m))
	for _, k := range sortedKeys(m) {
		sub, child := join(key, k), n.each
		if n.fields != nil {
			if child = n.fields[k]; child == nil {
				c.errs = append(c.errs, fmt.Errorf("config: unknown key %q in %s%s", sub, l.where(sub), suggest(key, k, n)))
				continue
			}
		}
		if cv := c.walk(l, sub, m[k], child); cv != nil {
			out[k] = cv
		} else if n.each != nil {
			out[k] = map[string]any{} // keep the name: "plugins: {x: }" declares x
		}
	}
	return out
}

// suggest returns a hint naming the known key closest to the unknown key k,
// or "" when none is close.
func suggest(parent, k string, n *node) string {
	best, bestD := "", 3
	for _, known := range sortedKeys(n.fields) {
		if d := distance(strings.ToLower(k), strings.ToLower(known)); d < bestD {
			best, bestD = known, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", join(parent, best))
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// asMap returns v as a map with string keys, if it is a map.
func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[fmt.Sprint(k)] = v
		}
		return out, true
	}
	return nil, false
}

// normalize deep-copies v, turning every map into map[string]any.
func normalize(v any) any {
	if m, ok := asMap(v); ok {
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[k] = normalize(v)
		}
		return out
	}
	if l, ok := v.([]any); ok {
		out := make([]any, len(l))
		for i, v := range l {
			out[i] = normalize(v)
		}
		return out
	}
	return v
}

func typeName(v any) string {
	switch v.(type) {
	case map[string]any, map[any]any:
		return "a mapping"
	case []any, []string:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

func join(parent, k string) string {
	if parent == "" {
		return k
	}
	return parent + "." + k
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
