package runtime

import (
	"github.com/empirefederation/neuron/internal/guest"
	"github.com/empirefederation/neuron/internal/ratelimit"
	"github.com/empirefederation/neuron/internal/route"
)

// Error codes a caller sees in the "code" field of an error response. Each
// limit has its own code so that a client, a dashboard or an alert can tell
// them apart. See docs/design.md, "Which status for which failure?".
const (
	CodeTimeout          = guest.CodeTimeout          // 504: the call ran past its CallTimeout
	CodeMemoryLimit      = guest.CodeMemoryLimit      // 500: the guest needed more than MemoryPages
	CodeTrap             = guest.CodeTrap             // 500: the guest panicked or trapped
	CodeABIViolation     = guest.CodeABIViolation     // 502: the guest answered something the ABI forbids
	CodeResponseTooLarge = guest.CodeResponseTooLarge // 502: the response exceeded MaxResponseBytes
	CodeBodyTooLarge     = route.CodeBodyTooLarge     // 413: the request body exceeded MaxBodyBytes
	CodeBodyTimeout      = route.CodeBodyTimeout      // 408: the request body did not arrive within Options.RequestBodyTimeout
	CodeBodyBudget       = route.CodeBodyBudget       // 503: the request bodies in flight filled Options.RequestBodyBudget
	CodeOverloaded       = route.CodeOverloaded       // 503: every instance busy and the queue full or too slow
	CodeUnavailable      = route.CodeUnavailable      // 503: the processor is closing
	CodeWorkerRestarted  = guest.CodeWorkerRestarted  // 503: an operator restarted the instance mid-call (RestartWorkers, not graceful)
	CodeUnloaded         = guest.CodeUnloaded         // 503: the version was swapped out or unloaded, or the runtime closed, and its call outlived Options.DrainTimeout
	CodeDraining         = route.CodeDraining         // 503: the neuron is draining (Runtime.Drain) and takes no processor calls
	CodeClientClosed     = route.CodeClientClosed     // 499: the client went away mid-call
	CodeNotFound         = route.CodeNotFound         // 404: no endpoint has this path
	CodeMethodNotAllowed = route.CodeMethodNotAllowed // 405: the path exists for other methods
	CodeBadRequest       = route.CodeBadRequest       // 400: the request could not be read
	CodeRateLimited      = route.CodeRateLimited      // 429: the caller's or the processor's rate limit (Options.RateLimits) refused the call
	CodeUnauthorized     = route.CodeUnauthorized     // 401: no bearer token, or one refused (Options.Callers)
	CodeForbidden        = route.CodeForbidden        // 403: the token lacks the endpoint's scopes
)

// RateLimits are the rate limits of the processor endpoints (Options,
// Dynamic): requests per second per caller and per processor.
type RateLimits = ratelimit.Limits

// CallError is a failed processor call: the HTTP status and code the
// caller sees, a message for them, and the underlying cause for the log.
// It is guest.CallError, which a call into an instance returns.
type CallError = guest.CallError
