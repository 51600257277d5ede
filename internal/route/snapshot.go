package route

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/processor"
	"github.com/empirefederation/neuron/sdk/abi"
)

// Snapshot is the immutable set of processors serving at one moment and the
// router built for them. A new set means a new snapshot, published with an
// atomic store (Server.Current); a request uses the snapshot it loaded
// from start to end. See docs/design.md, "Why an atomic snapshot?".
type Snapshot struct {
	Procs   []*processor.Version          // every loaded version, in file order
	Serving map[string]*processor.Version // name → the version that takes traffic
	Pinned  map[string]bool               // names whose serving version is pinned (Rollback)
	// Experiments split the calls of processors by name (the runtime's
	// SetExperiment); shared between snapshots, never modified.
	Experiments map[string]*Experiment
	router      *mux.Router
	// static maps the paths without variables straight to their endpoints,
	// by method, so the common case skips mux's regular expressions. See
	// docs/design.md, "Why a map, not a second router, in front of the processors?".
	static map[string]*methods
	// unclaimed counts the requests no endpoint matched; it is the
	// server's, shared by every snapshot.
	unclaimed *processor.Counters
}

// Empty returns a snapshot that serves nothing: every request gets 404.
func (srv *Server) Empty() *Snapshot {
	return srv.Snapshot(&Snapshot{Serving: map[string]*processor.Version{}})
}

// Snapshot completes s, whose Procs, Serving, Pinned and Experiments are
// set, with its router, serving for srv, and returns it, ready to publish.
func (srv *Server) Snapshot(s *Snapshot) *Snapshot {
	s.router = s.newRouter(srv)
	return s
}

// methods are the endpoints of one static path.
type methods [len(modfile.Methods)]*endpoint

func (m *methods) get(method string) *endpoint {
	if method == http.MethodHead {
		method = http.MethodGet // see newRouter
	}
	for i, name := range modfile.Methods {
		if name == method {
			return m[i]
		}
	}
	return nil
}

// ServeHTTP routes r: a static path by map lookup, anything else by mux.
// A match calls the endpoint with mux's variables directly, sparing the two
// request copies mux makes to put them in the context; a miss goes through
// the router, which answers 404 or 405, counted in the unclaimed traffic.
func (s *Snapshot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ms := s.static[r.URL.Path]; ms != nil {
		if ep := ms.get(r.Method); ep != nil {
			ep.handle(w, r, nil)
			return
		}
	}
	var m mux.RouteMatch
	if s.router.Match(r, &m) {
		if ep, ok := m.Handler.(*endpoint); ok {
			ep.handle(w, r, m.Vars)
			return
		}
	}
	s.serveUnclaimed(w, r)
}

// ClaimRoutes records p as the owner of its routes in owners, or returns a
// *Collision when a different processor owns one of them already.
func ClaimRoutes(owners map[string]*processor.Version, p *processor.Version) error {
	for _, e := range p.Mod.Manifest.Endpoints {
		key := modfile.RouteKey(e.Method, e.Path)
		if o := owners[key]; o != nil && o.Name() != p.Name() {
			return &Collision{Owner: o, msg: fmt.Sprintf(
				"%s %s is already served by %s (%s); processor %s (%s) is rejected: change one of the paths or remove one file",
				e.Method, e.Path, o.ID(), o.Mod.Path, p.ID(), p.Mod.Path)}
		}
	}
	for _, e := range p.Mod.Manifest.Endpoints {
		owners[modfile.RouteKey(e.Method, e.Path)] = p
	}
	return nil
}

// Collision is a processor refused because Owner serves one of its routes.
type Collision struct {
	Owner *processor.Version
	msg   string
}

func (e *Collision) Error() string { return e.msg }

// newRouter builds the router of s, serving for srv, and its map of
// static paths.
func (s *Snapshot) newRouter(srv *Server) *mux.Router {
	m := srv.Metrics
	s.static = map[string]*methods{}
	s.unclaimed = &m.unclaimed
	router := mux.NewRouter()
	router.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, CodeNotFound, "no endpoint serves "+r.URL.Path)
	})
	router.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allow := allowed(router, r)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		WriteError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed,
			r.Method+" is not served for "+r.URL.Path+"; it serves "+strings.Join(allow, ", "))
	})
	for _, name := range slices.Sorted(maps.Keys(s.Serving)) {
		p := s.Serving[name]
		for _, e := range p.Mod.Manifest.Endpoints {
			ep := srv.newEndpoint(p, e)
			if x := s.Experiments[name]; x != nil {
				ep.split = s.splitRoute(x, ep)
			}
			// Path before method: gorilla/mux 1.8.1 forgets an earlier route's
			// method mismatch when a later route's method matcher succeeds,
			// answering 404 instead of 405. A GET route answers HEAD too
			// (RFC 9110, 9.3.2): the guest sees the GET it declared (see
			// encode), and net/http sends the headers without the body.
			if e.Method == http.MethodGet {
				router.Path(e.Path).Methods(e.Method, http.MethodHead).Handler(ep)
			} else {
				router.Path(e.Path).Methods(e.Method).Handler(ep)
			}
			if len(ep.vars) == 0 {
				ms := s.static[e.Path]
				if ms == nil {
					ms = &methods{}
					s.static[e.Path] = ms
				}
				ms[slices.Index(modfile.Methods[:], e.Method)] = ep
			}
		}
	}
	return router
}

// newEndpoint is the endpoint of route r of version p, serving for srv:
// its series resolved, and the headers it forwards.
func (srv *Server) newEndpoint(p *processor.Version, r abi.Endpoint) *endpoint {
	ep := &endpoint{p: p, srv: srv, route: r, vars: modfile.RouteVars(r.Path), fn: slices.Index(p.Exports, r.Export),
		plugin: []string{p.ID()}, headers: p.Headers,
		metrics: srv.Metrics.endpoint(&p.Record.Traffic, p.Name(), p.Version(), p.Digest12(), r.Method, r.Path)}
	if srv.Callers != nil {
		ep.headers = slices.DeleteFunc(slices.Clone(p.Headers), func(h string) bool { return h == "Authorization" })
	}
	return ep
}

// allowed lists the methods router serves r's path with, for the Allow
// header of a 405 (RFC 9110, 15.5.6): HEAD after GET, then the others in
// the order of modfile.Methods. It runs on the 405 path only.
func allowed(router *mux.Router, r *http.Request) []string {
	var allow []string
	for _, method := range modfile.Methods {
		probe := *r
		probe.Method = method
		var m mux.RouteMatch
		if !router.Match(&probe, &m) {
			continue
		}
		if _, ok := m.Handler.(*endpoint); ok {
			allow = append(allow, method)
			if method == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	return allow
}

// Describe is a one-line summary of what the snapshot serves, for the log.
func (s *Snapshot) Describe() string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(s.Serving)) {
		parts = append(parts, s.Serving[name].ID())
	}
	return strings.Join(parts, ", ")
}
