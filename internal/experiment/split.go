// Package experiment splits one processor's traffic between the weighted
// variants of an experiment, keeps per-variant statistics and stops a variant
// that breaks its guardrails.
//
// It is a pure package: it knows nothing of processors, pools or HTTP
// serving beyond reading a sticky key from a request. It imports federation
// only for an experiment's wire types (Variant, Guardrails) and must not
// import the runtime or wazero: control and the development federation,
// which must not link wazero, compile experiments with it too. The runtime
// compiles an experiment once per update and then, per request:
//
//	key, ok := split.Key(r, body)
//	v := split.AssignRandom()
//	if ok {
//		v = split.Assign(key)
//	}
//	// ... serve with split.Variants()[v] ...
//	split.Observe(v, status, latency)
//
// and calls split.Check(time.Now()) periodically (about once a second) to
// stop variants that break their guardrails.
//
// # Notes
//
//   - A Split is safe for concurrent use. Assign, AssignRandom, Key and
//     Observe take no lock and do not allocate, except that Key allocates
//     the key it copies out of a JSON body.
//   - Assignment is a pure function of the experiment id, the variant names
//     and weights, and the key: the same key gets the same variant on every
//     neuron and after a restart. See docs/design.md, "Why weighted
//     rendezvous hashing?".
package experiment

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/empirefederation/neuron/federation"
)

// ControlName is the variant name that makes a variant the control, wherever
// it is in the list. Without a variant of that name, the first variant is
// the control. The control is the baseline: it is never stopped, and the
// keys of a stopped variant go to it.
const ControlName = "control"

// Defaults of the guardrail evaluator, used unless Compile is given options.
const (
	// DefaultWindow is how far back Check looks: long enough to hold a few
	// hundred calls of a modest variant, short enough that a broken variant
	// is stopped within half a minute.
	DefaultWindow = 30 * time.Second
	// DefaultMinSamples is the fewest calls in the window on which Check
	// decides, so that one failure out of two calls does not stop a variant.
	DefaultMinSamples = 20
)

// Split is a compiled traffic-splitting experiment: the variants, their
// assignment function, their statistics and which of them are stopped.
// Compile makes one; it is safe for concurrent use and holds no resources,
// so dropping it is enough to end the experiment.
type Split struct {
	id       string
	plugin   string
	variants []federation.Variant
	control  int
	sticky   stickyKey

	// seed is the FNV-1a state after the experiment id; see assign.go.
	seed    uint64
	weights []float64 // as float64 for the rendezvous score
	stopped []atomic.Pointer[Stopped]
	stats   []variantStats
	guard   guard
}

// Option changes how Compile sets up a Split; see WithDefaultGuardrails,
// WithWindow and WithMinSamples.
type Option func(*options)

type options struct {
	defaults   federation.Guardrails
	window     time.Duration
	minSamples int
}

// WithDefaultGuardrails sets the guardrails used when the experiment has
// none (its "guardrails" is absent): pass the neuron's alertThresholds
// (ErrorRate percent, ResponseTime milliseconds). A zero field means no
// limit on that metric. Without this option, an experiment without
// guardrails stops nothing.
func WithDefaultGuardrails(g federation.Guardrails) Option {
	return func(o *options) { o.defaults = g }
}

// WithWindow sets how far back Check looks (DefaultWindow otherwise). It
// must be positive.
func WithWindow(d time.Duration) Option {
	return func(o *options) { o.window = d }
}

// WithMinSamples sets the fewest calls a variant must have in the window
// before Check judges it (DefaultMinSamples otherwise). It must be at
// least 1.
func WithMinSamples(n int) Option {
	return func(o *options) { o.minSamples = n }
}

// Compile validates e completely and returns the Split that assigns its
// traffic. e is the traffic-splitting form of an experiment: ID, Plugin,
// at least two Variants with unique non-empty names and weights summing to
// 100, an optional StickyKey ("header:NAME", "query:NAME" or "json:FIELD";
// without one, every call is split at random by weight) and optional
// Guardrails.
//
// The variant named ControlName is the control, else the first variant. The
// guardrails are e.Guardrails when present (a zero field there means no
// limit on that metric), else those of WithDefaultGuardrails.
//
// Compile keeps e's variants (names, versions and configs) as they are;
// the caller must not change their Config maps afterwards.
//
// # Errors
//
// An invalid experiment or option returns an *InvalidError listing every
// problem, for example
//
//	experiment "exp-1" is invalid: weights sum to 90, want 100; variants[2]: name "b" is used twice
func Compile(e federation.Experiment, opts ...Option) (*Split, error) {
	o := options{window: DefaultWindow, minSamples: DefaultMinSamples}
	for _, opt := range opts {
		opt(&o)
	}
	sticky, problems := validate(e, o)
	if len(problems) > 0 {
		return nil, &InvalidError{ID: e.ID, Problems: problems}
	}
	s := &Split{
		id:       e.ID,
		plugin:   e.Plugin,
		variants: append([]federation.Variant(nil), e.Variants...),
		control:  controlIndex(e.Variants),
		sticky:   sticky,
		seed:     idSeed(e.ID),
		weights:  make([]float64, len(e.Variants)),
		stopped:  make([]atomic.Pointer[Stopped], len(e.Variants)),
		stats:    make([]variantStats, len(e.Variants)),
	}
	for i, v := range e.Variants {
		s.weights[i] = float64(v.Weight)
		s.stats[i] = newVariantStats()
	}
	limits := o.defaults
	if e.Guardrails != nil {
		limits = *e.Guardrails
	}
	s.guard = guard{limits: limits, window: o.window, minSamples: int64(o.minSamples)}
	return s, nil
}

// controlIndex is the index of the variant named ControlName, else 0.
func controlIndex(vs []federation.Variant) int {
	for i, v := range vs {
		if v.Name == ControlName {
			return i
		}
	}
	return 0
}

// ID is the experiment id, which salts the assignment hash.
func (s *Split) ID() string { return s.id }

// Plugin is the name of the processor whose calls the experiment splits.
func (s *Split) Plugin() string { return s.plugin }

// Control is the index of the control variant: the one named ControlName,
// else the first.
func (s *Split) Control() int { return s.control }

// Variants returns the variants in the experiment's order; Assign and
// AssignRandom return indexes into it. The slice is a copy, but the Config
// maps are shared and must not be changed.
func (s *Split) Variants() []federation.Variant {
	return append([]federation.Variant(nil), s.variants...)
}

// Name is the name of variant i, for the X-Neuron-Variant header and metric
// labels. It panics if i is out of range, like a slice index.
func (s *Split) Name(i int) string { return s.variants[i].Name }

// Key returns the sticky key of a call: the value of the header, query
// parameter or top-level JSON field the experiment's StickyKey names. ok is
// false when the experiment has no sticky key, or the call does not carry
// it, or carries it empty; such calls go to AssignRandom.
//
// For "json:FIELD", body is the request body; the field must be a member of
// the top-level object (its first occurrence counts), with a string or
// number value. A number's key is its literal text, so 42 and "42" get the
// same variant, and 42.0 another. The scan stops at the field and
// allocates only the key it returns.
//
// For "header:NAME" the first value of the header counts (NAME is matched
// case-insensitively); for "query:NAME" the first value of the parameter,
// decoded as url.ParseQuery would.
func (s *Split) Key(r *http.Request, body []byte) (key string, ok bool) {
	switch s.sticky.kind {
	case keyHeader:
		if r == nil {
			return "", false
		}
		if vs := r.Header[s.sticky.name]; len(vs) > 0 && vs[0] != "" {
			return vs[0], true
		}
	case keyQuery:
		if r == nil || r.URL == nil {
			return "", false
		}
		return queryValue(r.URL.RawQuery, s.sticky.name)
	case keyJSON:
		return jsonField(body, s.sticky.name)
	}
	return "", false
}

// KeyNeedsBody reports whether Key reads the request body (a "json:FIELD"
// sticky key), so that a caller streaming bodies reads it first only then.
func (s *Split) KeyNeedsBody() bool { return s.sticky.kind == keyJSON }

// InvalidError is the error Compile returns for an experiment it refuses:
// every problem found, each naming its field, so that the federation can
// fix them all at once.
type InvalidError struct {
	// ID is the experiment's id, possibly empty.
	ID string
	// Problems are the faults in field order, for example
	// `variants[1]: weight -5 is negative`.
	Problems []string
}

// Error joins the problems into one line.
func (e *InvalidError) Error() string {
	msg := fmt.Sprintf("experiment %q is invalid: ", e.ID)
	for i, p := range e.Problems {
		if i > 0 {
			msg += "; "
		}
		msg += p
	}
	return msg
}
