package route

import (
	"context"
	"errors"
	"net/http"

	"github.com/empirefederation/neuron/internal/guest"
	"github.com/empirefederation/neuron/internal/pool"
)

// Error codes of the request path a caller sees in the "code" field of an
// error response; the runtime's Code* constants are these and guest's.
// See docs/design.md, "Which status for which failure?".
const (
	CodeBodyTooLarge     = "body_too_large"     // 413: the request body exceeded MaxBodyBytes
	CodeBodyTimeout      = "body_timeout"       // 408: the request body did not arrive within Options.RequestBodyTimeout
	CodeBodyBudget       = "body_budget"        // 503: the request bodies in flight filled Options.RequestBodyBudget
	CodeOverloaded       = "overloaded"         // 503: every instance busy and the queue full or too slow
	CodeUnavailable      = "unavailable"        // 503: the processor is closing
	CodeDraining         = "draining"           // 503: the neuron is draining (Runtime.Drain) and takes no processor calls
	CodeClientClosed     = "client_closed"      // 499: the client went away mid-call
	CodeNotFound         = "not_found"          // 404: no endpoint has this path
	CodeMethodNotAllowed = "method_not_allowed" // 405: the path exists for other methods
	CodeBadRequest       = "bad_request"        // 400: the request could not be read
)

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
func poolError(err error, name string) *guest.CallError {
	switch {
	case errors.Is(err, pool.ErrQueueFull):
		return &guest.CallError{Status: http.StatusServiceUnavailable, Code: CodeOverloaded,
			Msg: "processor " + name + " is at capacity; retry shortly", Err: err}
	case errors.Is(err, pool.ErrClosed):
		return &guest.CallError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Msg: "processor " + name + " is shutting down", Err: err}
	case errors.Is(err, context.Canceled):
		return &guest.CallError{Status: statusClientClosed, Code: CodeClientClosed, Msg: "client closed the request", Err: err}
	case errors.Is(err, pool.ErrWaitTimeout):
		return &guest.CallError{Status: http.StatusServiceUnavailable, Code: CodeOverloaded,
			Msg: "no instance of processor " + name + " became free within the call timeout", Err: err}
	}
	return &guest.CallError{Status: http.StatusInternalServerError, Code: guest.CodeTrap,
		Msg: "processor " + name + " could not start an instance", Err: err}
}
