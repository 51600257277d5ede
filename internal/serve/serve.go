// Package serve is the neuron's HTTP surface: the processors' endpoints and
// the neuron's own routes, /health, /ready, /metrics and the federation's
// POST /api/neuron/update-config. It routes and reports only: it reads the
// runtime through the Plugins interface and is handed the update handler
// (internal/control's) and the dependencies' statuses, so it imports
// neither control nor probe, and it adds one map lookup, nothing more, to a
// processor's request. With client CAs configured, it refuses the update
// route to a client without a verified TLS certificate; the TLS itself
// (certificates, their reload) is internal/tlsconf's.
package serve

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/empirefederation/neuron/runtime"
)

// Plugins is what the server needs of the runtime.
type Plugins interface {
	http.Handler
	Ready() bool
	Processors() []runtime.ProcessorInfo
}

// UpdatePath is where the federation pushes config, experiments and commands.
const UpdatePath = "/api/neuron/update-config"

// Options are the parts of the neuron's own routes beyond the runtime.
type Options struct {
	// Started is when the neuron started, for the uptime in /health.
	Started time.Time
	// Dependencies returns each dependency's status (healthy, unhealthy,
	// unknown) and whether the neuron is healthy given them. Nil: none.
	Dependencies func() (map[string]string, bool)
	// Draining reports whether the neuron is draining: /ready answers 503.
	Draining func() bool
	// Update serves POST UpdatePath. Nil: the route is the processors'.
	Update http.Handler
	// Token, when not nil, serves TokenPath: the neuron's token endpoint.
	Token http.Handler
	// UpdateClientCert makes UpdatePath refuse, 403
	// CodeClientCertRequired, a request that did not come over TLS with
	// a client certificate the server verified (tls.clientCA), before
	// Update sees it. The other routes take any client.
	UpdateClientCert bool
}

// CodeClientCertRequired is the error code of an update refused for want
// of a verified client certificate.
const CodeClientCertRequired = "client_certificate_required"

// TokenPath is where the neuron issues tokens to its callers' clients.
const TokenPath = "/auth/token"

// Handler returns the neuron's handler: its own routes, and everything else
// to the processors, whose router answers 404 and 405. gatherer serves
// /metrics. A map lookup, not a second router, picks the own routes, so
// processor requests pay for one routing step only.
func Handler(p Plugins, gatherer prometheus.Gatherer, opts Options) http.Handler {
	if opts.Dependencies == nil {
		opts.Dependencies = func() (map[string]string, bool) { return map[string]string{}, true }
	}
	if opts.Draining == nil {
		opts.Draining = func() bool { return false }
	}
	update := opts.Update
	if update != nil && opts.UpdateClientCert {
		update = clientCertRequired(update)
	}
	get := map[string]http.Handler{
		"/health":  health(p, opts),
		"/ready":   ready(p, opts.Draining),
		"/metrics": promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := get[r.URL.Path]; h != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			h.ServeHTTP(w, r)
			return
		}
		if update != nil && r.URL.Path == UpdatePath {
			update.ServeHTTP(w, r)
			return
		}
		if opts.Token != nil && r.URL.Path == TokenPath {
			opts.Token.ServeHTTP(w, r)
			return
		}
		p.ServeHTTP(w, r)
	})
}

// clientCertRequired passes to next only requests whose TLS connection
// carries a client certificate verified against the server's client CAs.
// The server asks for one without requiring it (VerifyClientCertIfGiven),
// so a certificate given but not verified fails the handshake, and a
// request here without VerifiedChains gave none.
func clientCertRequired(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			runtime.WriteError(w, http.StatusForbidden, CodeClientCertRequired,
				"this route requires a TLS client certificate signed by a CA of the neuron's tls.clientCA (NEURON_TLS_CLIENT_CA); connect with one")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// healthBody is the reference guide's health check body, plus the
// processors loaded.
type healthBody struct {
	Status       string            `json:"status"`
	Dependencies map[string]string `json:"dependencies"`
	Uptime       int64             `json:"uptime"`
	Processors   map[string]string `json:"processors"`
}

// health answers 200 "healthy", or 503 "unhealthy" when a required
// dependency is down, as the reference guide's health check does.
func health(p Plugins, opts Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deps, ok := opts.Dependencies()
		body := healthBody{Status: "healthy", Dependencies: deps, Uptime: int64(time.Since(opts.Started).Seconds()),
			Processors: map[string]string{}}
		for _, info := range p.Processors() {
			state := "standby"
			if info.Serving {
				state = "serving"
			}
			body.Processors[info.Name+"@"+info.Version] = state
		}
		status := http.StatusOK
		if !ok {
			body.Status, status = "unhealthy", http.StatusServiceUnavailable
		}
		writeJSON(w, status, body)
	})
}

func ready(p Plugins, draining func() bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case draining():
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		case !p.Ready():
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		default:
			writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
