package route

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/empirefederation/neuron/internal/auth"
	"github.com/empirefederation/neuron/internal/processor"
	"github.com/empirefederation/neuron/internal/ratelimit"
)

// MaxCallers is how many callers' rate limit buckets a Server keeps at
// most (about 200 bytes each, 13 MiB in all): past it, a new caller
// replaces one that has refilled or was used least recently (see
// internal/ratelimit).
const MaxCallers = 65536

// Server is the request path's state that outlives its snapshots: the
// snapshot serving now, whether the neuron drains, the budget of request
// bodies, the run-time configuration calls read and the request metrics.
// A runtime has one; it publishes a new Snapshot with Current.Store.
type Server struct {
	// Current is the snapshot serving now; never nil after NewServer.
	Current atomic.Pointer[Snapshot]
	// Draining makes every processor endpoint answer 503 draining; see
	// the runtime's Drain.
	Draining atomic.Bool
	// Dyn is the run-time configuration: the runtime's processor.Services'.
	Dyn *atomic.Pointer[processor.Config]
	// Metrics are the request path's series and the unclaimed traffic.
	Metrics *Metrics
	// Rate holds the rate limits' buckets; a processor call takes a
	// token from it before anything else (see endpoint.limited).
	Rate *ratelimit.Limiter
	// Callers, when not nil, verifies the callers of every endpoint that
	// is not public (see endpoint.admit); nil takes calls from anyone.
	Callers *auth.Verifier

	bodies      bodyBudget
	bodyTimeout time.Duration
}

// NewServer returns a Server serving nothing (every request gets 404),
// whose request bodies hold at most bodyBudget bytes at once and must
// arrive within bodyTimeout of their headers, whose callers callers
// verifies (nil: anyone may call), limiting no rate until Rate.Set.
func NewServer(dyn *atomic.Pointer[processor.Config], m *Metrics, bodyBudget int64, bodyTimeout time.Duration, callers *auth.Verifier) *Server {
	srv := &Server{Dyn: dyn, Metrics: m, bodyTimeout: bodyTimeout, Rate: ratelimit.New(MaxCallers), Callers: callers}
	srv.bodies.max = bodyBudget
	srv.Current.Store(srv.Empty())
	return srv
}

// ServeHTTP serves r with the current snapshot.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	srv.Current.Load().ServeHTTP(w, r)
}

// BodyBytes is the request body bytes held now, reserved from the budget.
func (srv *Server) BodyBytes() int64 { return srv.bodies.used.Load() }
