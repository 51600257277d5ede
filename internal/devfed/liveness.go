package devfed

import (
	"time"

	"github.com/empirefederation/neuron/internal/devfed/store"
)

// Shown statuses besides the reported ones (active, degraded, draining,
// stopping).
const (
	statusRegistered = "registered" // registered, no heartbeat yet
	statusStale      = "stale"      // no heartbeat for 2.5 intervals
	statusOffline    = "offline"    // no heartbeat for 5 intervals
	statusStopping   = "stopping"   // the final heartbeat of a neuron shutting down
)

// staleAfter and offlineAfter are the liveness thresholds.
func (s *Server) staleAfter() time.Duration {
	return s.opts.HeartbeatInterval * 5 / 2
}

func (s *Server) offlineAfter() time.Duration { return 5 * s.opts.HeartbeatInterval }

// lastSign is when the neuron last showed life: its last heartbeat, or its
// registration before the first.
func lastSign(n store.Neuron) time.Time {
	if n.LastHeartbeat.IsZero() {
		return n.RegisteredAt
	}
	return n.LastHeartbeat
}

// status is the neuron's shown status at now: offline past 5 intervals
// without a heartbeat, stale past 2.5, else what its last heartbeat said
// (registered before the first).
func (s *Server) status(n store.Neuron, now time.Time) string {
	age := now.Sub(lastSign(n))
	switch {
	case age > s.offlineAfter():
		return statusOffline
	case age > s.staleAfter():
		return statusStale
	case n.LastHeartbeat.IsZero() || n.Status == "":
		return statusRegistered
	}
	return n.Status
}

// holds reports whether the neuron still holds its id at now: it is not
// offline and its last heartbeat was not "stopping". Another instance
// registering the id is refused while it holds it.
func (s *Server) holds(n store.Neuron, now time.Time) bool {
	return s.status(n, now) != statusOffline && n.Status != statusStopping
}
