package experiment

import (
	"fmt"
	"math"
	"net/textproto"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/empirefederation/neuron/federation"
)

// keyKind is where a call's sticky key comes from.
type keyKind int

const (
	keyNone keyKind = iota
	keyHeader
	keyQuery
	keyJSON
)

// stickyKey is a parsed StickyKey: the source and the name in it (a
// canonical header name for keyHeader).
type stickyKey struct {
	kind keyKind
	name string
}

// validate checks everything Compile needs and returns every problem found,
// in field order.
func validate(e federation.Experiment, o options) (stickyKey, []string) {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if strings.TrimSpace(e.ID) == "" {
		add("id is empty: an experiment needs an id, which salts its assignment")
	}
	if e.Stop {
		add("stop is set: a stop request ends an experiment, there is nothing to compile")
	}
	if strings.TrimSpace(e.Plugin) == "" {
		add("plugin is empty: name the processor whose calls the variants split")
	}
	problems = append(problems, validateVariants(e.Variants)...)
	sticky, err := parseStickyKey(e.StickyKey)
	if err != "" {
		add("%s", err)
	}
	if e.Guardrails != nil {
		problems = append(problems, validateGuardrails("guardrails", *e.Guardrails)...)
	}
	problems = append(problems, validateGuardrails("default guardrails", o.defaults)...)
	if o.window <= 0 {
		add("window %s is not positive", o.window)
	}
	if o.minSamples < 1 {
		add("minimum samples %d is below 1", o.minSamples)
	}
	return sticky, problems
}

// validateVariants checks the variant list: at least two, names unique and
// usable in a header and a metric label, weights non-negative summing to 100.
func validateVariants(vs []federation.Variant) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(vs) < 2 {
		add("variants: %d given, want at least 2 (a control and a treatment)", len(vs))
	}
	seen := make(map[string]int, len(vs))
	sum := 0
	for i, v := range vs {
		if msg := checkName(v.Name); msg != "" {
			add("variants[%d]: name %q %s", i, v.Name, msg)
		} else if first, dup := seen[v.Name]; dup {
			add("variants[%d]: name %q is used twice (also variants[%d])", i, v.Name, first)
		} else {
			seen[v.Name] = i
		}
		if v.Weight < 0 {
			add("variants[%d]: weight %d is negative", i, v.Weight)
		}
		sum += v.Weight
	}
	if len(vs) > 0 && sum != 100 {
		add("weights sum to %d, want 100", sum)
	}
	return problems
}

// checkName says what is wrong with a variant name, or "". Names go into
// the X-Neuron-Variant header and metric labels, so they must be printable
// text without surrounding spaces.
func checkName(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > 128:
		return "is longer than 128 bytes"
	case !utf8.ValidString(name):
		return "is not valid UTF-8"
	case strings.TrimSpace(name) != name:
		return "has leading or trailing spaces"
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0:
		return "has a control or non-printable character"
	}
	return ""
}

// parseStickyKey parses "header:NAME", "query:NAME" or "json:FIELD" ("" is
// no sticky key), or says what is wrong with it.
func parseStickyKey(s string) (stickyKey, string) {
	if s == "" {
		return stickyKey{}, ""
	}
	const want = "want header:NAME, query:NAME or json:FIELD"
	kind, name, found := strings.Cut(s, ":")
	if !found {
		return stickyKey{}, fmt.Sprintf("stickyKey %q has no colon: %s", s, want)
	}
	if name == "" {
		return stickyKey{}, fmt.Sprintf("stickyKey %q names nothing after the colon: %s", s, want)
	}
	switch kind {
	case "header":
		if !isToken(name) {
			return stickyKey{}, fmt.Sprintf("stickyKey %q: %q is not a valid header name", s, name)
		}
		return stickyKey{keyHeader, textproto.CanonicalMIMEHeaderKey(name)}, ""
	case "query":
		return stickyKey{keyQuery, name}, ""
	case "json":
		if !utf8.ValidString(name) {
			return stickyKey{}, fmt.Sprintf("stickyKey %q: field name is not valid UTF-8", s)
		}
		return stickyKey{keyJSON, name}, ""
	}
	return stickyKey{}, fmt.Sprintf("stickyKey %q has unknown source %q: %s", s, kind, want)
}

// isToken reports whether s is an RFC 9110 token, the syntax of a header
// name.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return s != ""
}

// validateGuardrails checks that limits are finite and not negative, and an
// error rate at most 100 percent. Zero is allowed: it means no limit.
func validateGuardrails(what string, g federation.Guardrails) []string {
	var problems []string
	if bad(g.ErrorRate) || g.ErrorRate > 100 {
		problems = append(problems, fmt.Sprintf("%s: errorRate %v is not a percentage between 0 (no limit) and 100", what, g.ErrorRate))
	}
	if bad(g.ResponseTime) {
		problems = append(problems, fmt.Sprintf("%s: responseTime %v is not a positive number of milliseconds (0 for no limit)", what, g.ResponseTime))
	}
	return problems
}

func bad(f float64) bool { return f < 0 || math.IsNaN(f) || math.IsInf(f, 0) }
