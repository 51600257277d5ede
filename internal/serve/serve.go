// Package serve is the neuron's HTTP surface: the processors' endpoints and
// the neuron's own routes, /health, /ready and /metrics.
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

// Handler returns the neuron's handler: GET of its own routes, and
// everything else to the processors, whose router answers 404 and 405.
// gatherer serves /metrics. A map lookup, not a second router, picks the
// own routes, so processor requests pay for one routing step only.
func Handler(p Plugins, gatherer prometheus.Gatherer, started time.Time) http.Handler {
	own := map[string]http.Handler{
		"/health":  health(p, started),
		"/ready":   ready(p),
		"/metrics": promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := own[r.URL.Path]; h != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			h.ServeHTTP(w, r)
			return
		}
		p.ServeHTTP(w, r)
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

func health(p Plugins, started time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := healthBody{Status: "healthy", Dependencies: map[string]string{}, Uptime: int64(time.Since(started).Seconds()),
			Processors: map[string]string{}}
		for _, info := range p.Processors() {
			state := "standby"
			if info.Serving {
				state = "serving"
			}
			body.Processors[info.Name+"@"+info.Version] = state
		}
		writeJSON(w, http.StatusOK, body)
	})
}

func ready(p Plugins) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.Ready() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
