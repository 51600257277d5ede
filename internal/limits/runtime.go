package limits

import "time"

// Defaults of the runtime's bounds other than a processor's Limits
// (runtime.Options.DrainTimeout, KeepVersions, RequestBodyBudget and
// RequestBodyTimeout), which the configuration's built-in defaults and
// the runtime's zero options share.
const (
	// DefaultDrainTimeout bounds how long a version that left the
	// snapshot may finish its calls in flight.
	DefaultDrainTimeout = 30 * time.Second
	// DefaultKeepVersions is how many retired versions of each processor
	// the archive keeps for rollback.
	DefaultKeepVersions = 3
	// DefaultRequestBodyBudget holds 64 bodies of the default
	// maxBodyBytes (4 MiB) at once: far beyond normal traffic, far below
	// what exhausts a host.
	DefaultRequestBodyBudget = 256 << 20
	// DefaultRequestBodyTimeout is generous to a slow mobile client
	// sending a few MiB, and short enough that a connection dribbling a
	// body cannot hold its share of the budget for long.
	DefaultRequestBodyTimeout = 30 * time.Second
	// MinRequestBodyBudget is the least budget accepted: a chunked body
	// reserves the budget 64 KiB at a time, and a budget below a few such
	// steps would refuse every chunked body.
	MinRequestBodyBudget = 1 << 20
)
