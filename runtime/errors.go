package runtime

import (
	"context"
	"errors"
	"net/http"

	"github.com/empirefederation/neuron/internal/guest"
	"github.com/empirefederation/neuron/internal/pool"
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
	CodeBodyTooLarge     = "body_too_large"           // 413: the request body exceeded MaxBodyBytes
	CodeBodyTimeout      = "body_timeout"             // 408: the request body did not arrive within Options.RequestBodyTimeout
	CodeBodyBudget       = "body_budget"              // 503: the request bodies in flight filled Options.RequestBodyBudget
	CodeOverloaded       = "overloaded"               // 503: every instance busy and the queue full or too slow
	CodeUnavailable      = "unavailable"              // 503: the processor is closing
	CodeWorkerRestarted  = guest.CodeWorkerRestarted  // 503: an operator restarted the instance mid-call (RestartWorkers, not graceful)
	CodeUnloaded         = guest.CodeUnloaded         // 503: the version was swapped out or unloaded, or the runtime closed, and its call outlived Options.DrainTimeout
	CodeDraining         = "draining"                 // 503: the neuron is draining (Runtime.Drain) and takes no processor calls
	CodeClientClosed     = "client_closed"            // 499: the client went away mid-call
	CodeNotFound         = "not_found"                // 404: no endpoint has this path
	CodeMethodNotAllowed = "method_not_allowed"       // 405: the path exists for other methods
	CodeBadRequest       = "bad_request"              // 400: the request could not be read
)

// CallError is a failed processor call: the HTTP status and code the
// caller sees, a message for them, and the underlying cause for the log.
// It is guest.CallError, which a call into an instance returns.
type CallError = guest.CallError

// statusClientClosed is nginx's status for a request the client abandoned.
const statusClientClosed = 499

// retryAfter is the Retry-After of a 503 from a processor endpoint, in
// seconds: overload and swaps pass quickly.
const retryAfter = "1"

// drainRetryAfter is the Retry-After while the neuron drains (Drain): an
// operator's pause, so clients are told to come back later, or go to
// another neuron.
const drainRetryAfter = "5"

// poolError maps a failure to get an instance.
func poolError(err error, name string) *CallError {
	switch {
	case errors.Is(err, pool.ErrQueueFull):
		return &CallError{Status: http.StatusServiceUnavailable, Code: CodeOverloaded,
			Msg: "processor " + name + " is at capacity; retry shortly", Err: err}
	case errors.Is(err, pool.ErrClosed):
		return &CallError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Msg: "processor " + name + " is shutting down", Err: err}
	case errors.Is(err, context.Canceled):
		return &CallError{Status: statusClientClosed, Code: CodeClientClosed, Msg: "client closed the request", Err: err}
	case errors.Is(err, pool.ErrWaitTimeout):
		return &CallError{Status: http.StatusServiceUnavailable, Code: CodeOverloaded,
			Msg: "no instance of processor " + name + " became free within the call timeout", Err: err}
	}
	return &CallError{Status: http.StatusInternalServerError, Code: CodeTrap,
		Msg: "processor " + name + " could not start an instance", Err: err}
}
