package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/empirefederation/neuron/internal/pool"
)

// Error codes a caller sees in the "code" field of an error response. Each
// limit has its own code so that a client, a dashboard or an alert can tell
// them apart. See docs/design.md, "Which status for which failure?".
const (
	CodeTimeout          = "timeout"            // 504: the call ran past its CallTimeout
	CodeMemoryLimit      = "memory_limit"       // 500: the guest needed more than MemoryPages
	CodeTrap             = "guest_trap"         // 500: the guest panicked or trapped
	CodeABIViolation     = "abi_violation"      // 502: the guest answered something the ABI forbids
	CodeResponseTooLarge = "response_too_large" // 502: the response exceeded MaxResponseBytes
	CodeBodyTooLarge     = "body_too_large"     // 413: the request body exceeded MaxBodyBytes
	CodeBodyTimeout      = "body_timeout"       // 408: the request body did not arrive within Options.RequestBodyTimeout
	CodeBodyBudget       = "body_budget"        // 503: the request bodies in flight filled Options.RequestBodyBudget
	CodeOverloaded       = "overloaded"         // 503: every instance busy and the queue full or too slow
	CodeUnavailable      = "unavailable"        // 503: the processor is closing
	CodeWorkerRestarted  = "worker_restarted"   // 503: an operator restarted the instance mid-call (RestartWorkers, not graceful)
	CodeUnloaded         = "unloaded"           // 503: the version was swapped out or unloaded, or the runtime closed, and its call outlived Options.DrainTimeout
	CodeDraining         = "draining"           // 503: the neuron is draining (Runtime.Drain) and takes no processor calls
	CodeClientClosed     = "client_closed"      // 499: the client went away mid-call
	CodeNotFound         = "not_found"          // 404: no endpoint has this path
	CodeMethodNotAllowed = "method_not_allowed" // 405: the path exists for other methods
	CodeBadRequest       = "bad_request"        // 400: the request could not be read
)

// statusClientClosed is nginx's status for a request the client abandoned.
const statusClientClosed = 499

// CallError is a failed processor call: the HTTP status and code the caller
// sees, a message for them, and the underlying cause for the log.
type CallError struct {
	Status int
	Code   string
	Msg    string
	Err    error
	// Discard is true when the instance that failed must not serve again.
	Discard bool
}

// Error returns the message and the cause.
func (e *CallError) Error() string {
	if e.Err == nil {
		return e.Msg
	}
	return e.Msg + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *CallError) Unwrap() error { return e.Err }

func abiViolation(format string, args ...any) *CallError {
	return &CallError{Status: http.StatusBadGateway, Code: CodeABIViolation, Msg: fmt.Sprintf(format, args...), Discard: true}
}

// retryAfter is the Retry-After of a 503 from a processor endpoint, in
// seconds: overload and swaps pass quickly.
const retryAfter = "1"

// drainRetryAfter is the Retry-After while the neuron drains (Drain): an
// operator's pause, so clients are told to come back later, or go to
// another neuron.
const drainRetryAfter = "5"

// unloadedError is the answer to a call on a version that left the
// snapshot when its call outlived the drain timeout.
func unloadedError(name string) *CallError {
	return &CallError{Status: http.StatusServiceUnavailable, Code: CodeUnloaded,
		Msg: "processor " + name + " was unloaded or replaced while this call ran, and the call outlived the drain timeout; retry", Discard: true}
}

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

// guestError maps an error from a guest call. stderr is what the guest wrote
// to standard error during the call, usually a panic message; nearLimit says
// whether its memory had grown to the limit.
func guestError(err error, stderr string, nearLimit bool) *CallError {
	switch {
	case nearLimit || strings.Contains(stderr, "out of memory"):
		return &CallError{Status: http.StatusInternalServerError, Code: CodeMemoryLimit,
			Msg: "processor ran out of memory; raise limits.memoryPages if it needs more", Err: withStderr(err, stderr), Discard: true}
	}
	return &CallError{Status: http.StatusInternalServerError, Code: CodeTrap, Msg: "processor failed" + panicSuffix(stderr),
		Err: withStderr(err, stderr), Discard: true}
}

// panicSuffix returns ": <first panic line>" when stderr holds a Go panic or
// fatal error, so that the caller learns what broke, not just that it did.
func panicSuffix(stderr string) string {
	for line := range strings.Lines(stderr) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
			return ": " + line
		}
	}
	return ""
}

// withStderr adds what the guest wrote to standard error to err: the panic
// line when there is one (a Go guest's goroutine dump would drown it), else
// the last line.
func withStderr(err error, stderr string) error {
	if line := panicSuffix(stderr); line != "" {
		return fmt.Errorf("%w%s", firstLine(err), line)
	}
	if s := strings.TrimSpace(stderr); s != "" {
		return fmt.Errorf("%w; guest stderr: %s", firstLine(err), s[strings.LastIndexByte(s, '\n')+1:])
	}
	return err
}

// firstLine drops the Wasm stack trace wazero appends to a trap, keeping
// the error's identity for errors.Is.
func firstLine(err error) error {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		return &trimmedError{msg[:i], err}
	}
	return err
}

type trimmedError struct {
	msg string
	err error
}

func (e *trimmedError) Error() string { return e.msg }
func (e *trimmedError) Unwrap() error { return e.err }
