package runtime

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/empirefederation/neuron/internal/modfile"
)

// snapshot is the immutable set of processors serving at one moment and the
// router built for them. A new set means a new snapshot, published with an
// atomic store; a request uses the snapshot it loaded from start to end.
// See docs/design.md, "Why an atomic snapshot?".
type snapshot struct {
	procs   []*processor          // every loaded version, in file order
	serving map[string]*processor // name → the version that takes traffic
	pinned  map[string]bool       // names whose serving version is pinned (Rollback)
	// experiments split the calls of processors by name (SetExperiment);
	// shared between snapshots, never modified.
	experiments map[string]*running
	router      *mux.Router
	// static maps the paths without variables straight to their endpoints,
	// by method, so the common case skips mux's regular expressions. See
	// docs/design.md, "Why a map, not a second router, in front of the processors?".
	static map[string]*methods
	// unclaimed counts the requests no endpoint matched; it is the
	// runtime's, shared by every snapshot.
	unclaimed *trafficCounters
}

// emptySnapshot serves nothing: every request gets 404.
func emptySnapshot(rt *Runtime) *snapshot {
	s := &snapshot{serving: map[string]*processor{}}
	s.router = s.newRouter(rt)
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
func (s *snapshot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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

// claimRoutes records p as the owner of its routes in owners, or returns a
// *routeCollision when a different processor owns one of them already.
func claimRoutes(owners map[string]*processor, p *processor) error {
	for _, e := range p.mod.Manifest.Endpoints {
		key := modfile.RouteKey(e.Method, e.Path)
		if o := owners[key]; o != nil && o.name() != p.name() {
			return &routeCollision{owner: o, msg: fmt.Sprintf(
				"%s %s is already served by %s (%s); processor %s (%s) is rejected: change one of the paths or remove one file",
				e.Method, e.Path, o.id(), o.mod.Path, p.id(), p.mod.Path)}
		}
	}
	for _, e := range p.mod.Manifest.Endpoints {
		owners[modfile.RouteKey(e.Method, e.Path)] = p
	}
	return nil
}

// routeCollision is a processor refused because another owns its routes.
type routeCollision struct {
	owner *processor
	msg   string
}

func (e *routeCollision) Error() string { return e.msg }

// newRouter builds the router of s, serving for rt, and its map of static
// paths.
func (s *snapshot) newRouter(rt *Runtime) *mux.Router {
	m := rt.metrics
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
	for _, name := range slices.Sorted(maps.Keys(s.serving)) {
		p := s.serving[name]
		for _, e := range p.mod.Manifest.Endpoints {
			ep := &endpoint{p: p, rt: rt, route: e, vars: modfile.RouteVars(e.Path), fn: slices.Index(p.exports, e.Export), plugin: []string{p.id()},
				metrics: m.endpoint(&p.state.traffic, p.name(), p.version(), p.digest12(), e.Method, e.Path)}
			if x := s.experiments[name]; x != nil {
				ep.split = s.splitRoute(x, ep, m)
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

// describe is a one-line summary of what the snapshot serves, for the log.
func (s *snapshot) describe() string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(s.serving)) {
		parts = append(parts, s.serving[name].id())
	}
	return strings.Join(parts, ", ")
}
