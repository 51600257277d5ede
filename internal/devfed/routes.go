package devfed

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/devfed/dashboard"
)

// methods serves each HTTP method of a route with its handler, and
// answers 405 with Allow for the others.
type methods map[string]http.HandlerFunc

// routes builds the federation's handler: the wire routes, the metrics,
// the admin API (admin token required) and the dashboard at / (both only
// for the names the federation answers to: see hostAllowed; the wire
// routes and metrics answer any name, as neurons and scrapers use
// whatever name reaches the federation). Every
// answer is counted in neuron_federation_requests_total under its route.
func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	in := s.metrics.instrument
	wire := map[string]methods{
		federation.PathRegister:  {http.MethodPost: s.handle(s.register)},
		federation.PathStatus:    {http.MethodPost: s.handle(s.heartbeat)},
		federation.PathAnalytics: {http.MethodPost: s.handle(s.analytics)},
		federation.PathConfig:    {http.MethodGet: s.handle(s.config)},
		"/metrics":               {http.MethodGet: s.metrics.handler().ServeHTTP},
	}
	for path, m := range wire {
		r.Handle(path, in(path, s.dispatch(m)))
	}
	admin := []struct {
		path string
		m    methods
	}{
		{"/api/admin/overview", methods{http.MethodGet: s.handle(s.overview)}},
		{"/api/admin/neurons", methods{http.MethodGet: s.handle(s.listNeurons)}},
		{"/api/admin/neurons/{id}", methods{http.MethodGet: s.handle(s.neuron)}},
		{"/api/admin/neurons/{id}/heartbeats", methods{http.MethodGet: s.handle(s.heartbeats)}},
		{"/api/admin/neurons/{id}/analytics", methods{http.MethodGet: s.handle(s.reports)}},
		{"/api/admin/neurons/{id}/events", methods{http.MethodGet: s.handle(s.events)}},
		{"/api/admin/configs", methods{http.MethodGet: s.handle(s.listConfigs), http.MethodPost: s.handle(s.setConfig)}},
		{"/api/admin/experiments", methods{http.MethodGet: s.handle(s.listExperiments), http.MethodPost: s.handle(s.startExperiment)}},
		{"/api/admin/experiments/{id}", methods{http.MethodGet: s.handle(s.getExperiment)}},
		{"/api/admin/experiments/{id}/stop", methods{http.MethodPost: s.handle(s.stopExperiment)}},
		{"/api/admin/commands", methods{http.MethodGet: s.handle(s.listCommands), http.MethodPost: s.handle(s.sendCommand)}},
	}
	for _, a := range admin {
		r.Handle(a.path, in(a.path, s.hostOnly(s.adminOnly(s.dispatch(a.m)))))
	}
	r.PathPrefix("/api/admin/").Handler(in(routeUnknown, s.hostOnly(s.adminOnly(s.handle(noRoute)))))
	r.PathPrefix("/api/").Handler(in(routeUnknown, s.handle(noRoute)))
	r.PathPrefix("/").Handler(in(routeDashboard, s.hostOnly(dashboard.Handler())))
	return r
}

// dispatch serves m, or 405 with the methods allowed.
func (s *Server) dispatch(m methods) http.Handler {
	allowed := make([]string, 0, len(m))
	for k := range m {
		allowed = append(allowed, k)
	}
	slices.Sort(allowed)
	allow := strings.Join(allowed, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, found := m[r.Method]; found {
			h(w, r)
			return
		}
		w.Header().Set("Allow", allow)
		s.fail(w, r, &apiError{Status: http.StatusMethodNotAllowed, Code: codeMethodNotAllowed,
			Msg: r.URL.Path + " takes " + allow + ", not " + r.Method})
	})
}

// adminOnly requires the admin token (401 otherwise) before h.
func (s *Server) adminOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.authAdmin(r); err != nil {
			s.fail(w, r, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// noRoute is the 404 of a path under /api/ that is no route.
func noRoute(_ http.ResponseWriter, r *http.Request) error {
	return notFound("no route %s %s: see docs/dev-federation.md for the federation's routes", r.Method, r.URL.Path)
}
