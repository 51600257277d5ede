package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/empirefederation/neuron/internal/limits"
)

// node is one level of the configuration schema. Exactly one of fields,
// each, items, free and leaf is set: fields (an object with known keys),
// each (a map whose keys are names, e.g. processors, and whose values all
// share one shape), items (a list whose items all share one shape), free (a
// mapping whose content is not ours to check) or leaf (a value). parse and
// check may be added to any of them.
type node struct {
	fields map[string]*node
	each   *node
	items  *node
	free   bool
	leaf   func(v any) (any, error) // parses, validates and normalizes
	// parse, when set, turns a string (as the environment gives it) into
	// the node's shape before it is checked: "a=b,c=d" into a mapping.
	parse func(s string) (any, error)
	// check, when set, validates the checked value as a whole (required
	// keys, relations between keys, defaults) and returns it, completed.
	// It runs only when the parts had no problem, and reports through
	// report, with sub the key below this node that the problem concerns
	// (".kind", "[2].name") or "" for the node itself.
	check func(v any, report func(sub string, err error)) any
}

// limitsSchema describes a limits.Limits: the top-level defaults, every
// per-processor override and the maximums. No value may exceed
// limits.HardMax; crossCheck compares them with maxLimits. The keys are
// package limits' own.
var limitsSchema = func() *node {
	fields := map[string]*node{}
	for key, most := range limits.HardMax().Map() {
		if d, ok := most.(time.Duration); ok {
			fields[key] = &node{leaf: durationAtMost(d)}
		} else {
			fields[key] = &node{leaf: integer(most.(int64))}
		}
	}
	return &node{fields: fields}
}()

// schema is every key Load accepts. Keys match the koanf tags of Config.
var schema = &node{fields: map[string]*node{
	"id":                 {leaf: str(true, checkID)},
	"name":               {leaf: str(true, nil)},
	"listen":             {leaf: str(false, checkListen)},
	"baseUrl":            {leaf: str(true, checkHTTPURL)},
	"pluginsDir":         {leaf: str(false, nil)},
	"pluginsWatch":       {leaf: boolean},
	"pluginsWatchQuiet":  {leaf: duration(true)},
	"drainTimeout":       {leaf: duration(true)},
	"keepVersions":       {leaf: integer(1000)},
	"requestBodyBudget":  {leaf: intRange(limits.MinRequestBodyBudget, math.MaxInt64)},
	"requestBodyTimeout": {leaf: duration(true)},
	"rateLimit":          {leaf: number(0, maxRate, true)},
	"rateBurst":          {leaf: integer(maxRate)},
	"rateLimits":         {each: &node{leaf: number(0, maxRate, true)}},
	"dataDir":            {leaf: str(false, nil)},
	"logLevel":           {leaf: str(false, checkLogLevel)},
	"shutdownTimeout":    {leaf: duration(false)},
	"federation": {fields: map[string]*node{
		"url":                {leaf: str(true, checkFederationURL)},
		"listen":             {leaf: str(false, checkListen)},
		"adminToken":         {leaf: str(true, nil)},
		"heartbeatInterval":  {leaf: duration(true)},
		"analyticsInterval":  {leaf: duration(true)},
		"configPollInterval": {leaf: duration(true)},
		"spoolMaxReports":    {leaf: integer(math.MaxInt32)},
		"spoolMaxBytes":      {leaf: integer(math.MaxInt64)},
		"type":               {leaf: str(false, checkType)},
		"capabilities":       {leaf: list(checkCapability)},
		"metadata":           {each: &node{leaf: str(true, nil)}, parse: parsePairs},
		"resourceRequirements": {fields: map[string]*node{
			"cpu":     {leaf: str(true, nil)},
			"memory":  {leaf: str(true, nil)},
			"storage": {leaf: str(true, nil)},
		}},
		"deploymentInfo": {fields: map[string]*node{
			"type":  {leaf: str(true, nil)},
			"image": {leaf: str(true, nil)},
			"ports": {leaf: intList(1, 65535)},
		}},
		"alertThresholds": {fields: map[string]*node{
			"errorRate":    {leaf: number(0, 100, false)},
			"responseTime": {leaf: number(0, math.Inf(1), false)},
			"healthScore":  {leaf: number(0, 100, true)},
		}},
		"ca":         {leaf: str(true, nil)},
		"clientCert": {leaf: str(true, nil)},
		"clientKey":  {leaf: str(true, nil)},
		"allowHttp":  {leaf: boolean},
	}},
	"tls": {fields: map[string]*node{
		"cert":     {leaf: str(true, nil)},
		"key":      {leaf: str(true, nil)},
		"clientCA": {leaf: str(true, nil)},
	}},
	"limits":             limitsSchema,
	"pluginLimits":       {each: limitsSchema},
	"maxLimits":          limitsSchema,
	"plugins":            {each: &node{free: true, check: checkSettings}},
	"settings":           {free: true, check: checkSettings},
	"pinnedSettings":     {leaf: list(checkPinned)},
	"allowPermissions":   {leaf: list(checkPermission)},
	"pluginHosts":        {leaf: list(checkHost)},
	"pluginSources":      {leaf: list(checkRef)},
	"pluginSourcesPoll":  {leaf: duration(false)},
	"insecureRegistries": {leaf: list(checkHost)},
	"trustedKeys":        {leaf: list(checkTrustedKey)},
	"dependencies":       dependenciesSchema,
	"auth":               authSchema,
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

// walk checks v, found at key in l, against n and returns it normalized,
// or nil when it is absent or wrong.
func (c *checker) walk(l layer, key string, v any, n *node) any {
	if v == nil {
		return nil // "key:" with no value: as if absent
	}
	if s, ok := v.(string); ok && n.parse != nil {
		parsed, err := n.parse(s)
		if err != nil {
			c.fail(l, key, err)
			return nil
		}
		v = parsed
	}
	before := len(c.errs)
	out := c.walkShape(l, key, v, n)
	if out != nil && n.check != nil && len(c.errs) == before {
		out = n.check(out, func(sub string, err error) { c.fail(l, key+sub, err) })
	}
	return out
}

// fail records a problem with the value at key in l.
func (c *checker) fail(l layer, key string, err error) {
	c.errs = append(c.errs, fmt.Errorf("config: %s in %s: %w", key, l.where(key), err))
}

// walkShape checks v against n's shape: leaf, list or mapping.
func (c *checker) walkShape(l layer, key string, v any, n *node) any {
	if n.leaf != nil {
		out, err := n.leaf(v)
		if err != nil {
			c.fail(l, key, err)
			return nil
		}
		c.prov[key] = l.where(key)
		return out
	}
	if n.items != nil {
		return c.walkItems(l, key, v, n.items)
	}
	m, ok := asMap(v)
	if !ok {
		c.fail(l, key, fmt.Errorf("must be a mapping, not %s", typeName(v)))
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
		} else if n.each != nil && n.each.leaf == nil {
			out[k] = map[string]any{} // keep the name: "plugins: {x: }" declares x
		}
	}
	return out
}

// walkItems checks a list whose items all have the shape item; the items
// are named key[0], key[1], ... A later layer's list replaces an earlier
// one whole, so what the earlier one set under key is forgotten.
func (c *checker) walkItems(l layer, key string, v any, item *node) any {
	list, ok := v.([]any)
	if !ok {
		c.fail(l, key, fmt.Errorf("must be a list, not %s", typeName(v)))
		return nil
	}
	for k := range c.prov {
		if strings.HasPrefix(k, key+"[") {
			delete(c.prov, k)
		}
	}
	out := make([]any, 0, len(list))
	for i, it := range list {
		sub := fmt.Sprintf("%s[%d]", key, i)
		if it == nil {
			c.fail(l, sub, errors.New("empty item: remove it or give it keys"))
			continue
		}
		if cv := c.walk(l, sub, it, item); cv != nil {
			out = append(out, cv)
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
	case nil:
		return "null"
	case map[string]any, map[any]any:
		return "a mapping"
	case []any, []string:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64, json.Number:
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
