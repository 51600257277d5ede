package route

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/empirefederation/neuron/internal/experiment"
	"github.com/empirefederation/neuron/internal/guest"
	"github.com/empirefederation/neuron/internal/processor"
	"github.com/empirefederation/neuron/sdk/abi"
)

// HeaderVariant names the experiment variant that served a response, when
// an experiment chose it. HeaderPlugin still names the processor version.
const HeaderVariant = "X-Neuron-Variant"

// Variant is one variant of an experiment as it is served: the split's
// variant of the same Name calls processor Version with Config laid over
// the processor's configuration.
type Variant struct {
	Name    string
	Version string
	Config  map[string]any
}

// Experiment is an experiment the runtime runs (its SetExperiment). It is
// shared by every snapshot built while it runs; what a snapshot resolves
// from it (which processor serves each variant) is in its endpoints'
// splitRoutes. Its request-path counters are read by the runtime's
// reports and its guardrail loop.
type Experiment struct {
	Epoch    uint64 // numbered by the runtime
	Split    *experiment.Split
	Variants []Variant // in the split's order, Version resolved: never ""
	// ClientErrors counts each variant's 4xx answers (the engine counts
	// the rest); Missing says the variant's version was found missing
	// (the guardrail loop's view).
	ClientErrors []atomic.Uint64
	Missing      []atomic.Bool
	header       [][]string // X-Neuron-Variant value of each variant, shared
	configs      []atomic.Pointer[variantConfig]
}

// NewExperiment returns an experiment of split served by variants, in the
// split's order, their versions resolved and configs checked.
func NewExperiment(epoch uint64, split *experiment.Split, variants []Variant) *Experiment {
	n := len(variants)
	x := &Experiment{Epoch: epoch, Split: split, Variants: variants, header: make([][]string, n),
		ClientErrors: make([]atomic.Uint64, n), Missing: make([]atomic.Bool, n), configs: make([]atomic.Pointer[variantConfig], n)}
	for i, v := range variants {
		x.header[i] = []string{v.Name}
	}
	return x
}

// variantConfig is a variant's configuration as JSON, encoded for one
// dynamic configuration: a new Dynamic re-encodes it on the next call.
type variantConfig struct {
	dyn *processor.Config
	b   []byte
}

// config returns the configuration variant v's calls to processor name
// see, or nil when the variant has no config of its own.
func (x *Experiment) config(v int, dyn *processor.Config, name string) []byte {
	over := x.Variants[v].Config
	if len(over) == 0 {
		return nil
	}
	if c := x.configs[v].Load(); c != nil && c.dyn == dyn {
		return c.b
	}
	b, err := dyn.Over(name, over)
	if err != nil { // checked by SetExperiment; a Dynamic cannot break it either
		return nil
	}
	x.configs[v].Store(&variantConfig{dyn: dyn, b: b})
	return b
}

// splitRoute is how one endpoint of an experiment's processor splits its
// calls in one snapshot: the endpoint serving each variant, and which
// variant's statistics the call counts in (the control's when the
// variant's version is missing or lacks the route).
type splitRoute struct {
	x      *Experiment
	eps    []*endpoint
	served []int
}

// splitRoute resolves, for endpoint e of the processor serving in s, the
// endpoint of each variant of x. A variant whose version is not in s, or
// whose version does not declare e's route, is served by the control's
// endpoint, and failing that by e's own processor.
func (s *Snapshot) splitRoute(x *Experiment, e *endpoint) *splitRoute {
	sr := &splitRoute{x: x, eps: make([]*endpoint, len(x.Variants)), served: make([]int, len(x.Variants))}
	find := func(version string) *endpoint {
		var p *processor.Version
		if cur := s.Serving[e.p.Name()]; cur.Version() == version {
			p = cur
		} else if i := slices.IndexFunc(s.Procs, func(q *processor.Version) bool { return q.Name() == e.p.Name() && q.Version() == version }); i >= 0 {
			p = s.Procs[i]
		}
		if p == nil {
			return nil
		}
		i := slices.IndexFunc(p.Mod.Manifest.Endpoints, func(r abi.Endpoint) bool { return r.Method == e.route.Method && r.Path == e.route.Path })
		if i < 0 {
			return nil
		}
		return e.srv.newEndpoint(p, p.Mod.Manifest.Endpoints[i])
	}
	c := x.Split.Control()
	control := find(x.Variants[c].Version)
	if control == nil {
		control = &endpoint{p: e.p, srv: e.srv, route: e.route, vars: e.vars, fn: e.fn, plugin: e.plugin, headers: e.headers, metrics: e.metrics}
	}
	for i, v := range x.Variants {
		sr.eps[i], sr.served[i] = find(v.Version), i
		if sr.eps[i] == nil {
			sr.eps[i], sr.served[i] = control, c
		}
	}
	return sr
}

// handleSplit serves a call of an endpoint under experiment: it picks the
// variant, serves the call with the variant's endpoint and config, and
// observes it. A "json:" sticky key needs the body first: it is read here
// (within the body limit) and handed on as the request's body.
func (e *endpoint) handleSplit(w http.ResponseWriter, r *http.Request, vars map[string]string, caller []byte) {
	sr := e.split
	split := sr.x.Split
	var body []byte
	if split.KeyNeedsBody() && r.Body != nil && r.Body != http.NoBody {
		limit := e.p.Limits.MaxBodyBytes
		b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil || int64(len(b)) > limit {
			cerr := bodyTooLarge(limit)
			if err != nil {
				cerr = &guest.CallError{Status: http.StatusBadRequest, Code: CodeBadRequest, Msg: "could not read the request body", Err: err}
			}
			e.metrics.observe(exchange{status: cerr.Status, in: len(b), out: e.fail(w, r, cerr)}, 0)
			return
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	v := split.AssignRandom()
	if key, ok := split.Key(r, body); ok {
		v = split.Assign(key)
	}
	ve, served := sr.eps[v], sr.served[v]
	w.Header()[HeaderVariant] = sr.x.header[served]
	start := time.Now()
	status := ve.run(w, r, vars, sr.x.config(served, ve.srv.Dyn.Load(), ve.p.Name()), caller)
	if status <= 0 { // rerouted to a newer snapshot, which observed it
		return
	}
	split.Observe(served, status, time.Since(start))
	if status >= 400 && status < 500 {
		sr.x.ClientErrors[served].Add(1)
	}
}
