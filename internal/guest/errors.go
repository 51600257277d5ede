package guest

import (
	"fmt"
	"net/http"
	"strings"
)

// Error codes of the failures of a call into an instance, as a caller
// sees them in the "code" field of an error response; package runtime
// lists them with the others (runtime.CodeTimeout and so on). See
// docs/design.md, "Which status for which failure?".
const (
	CodeTimeout          = "timeout"            // 504: the call ran past its CallTimeout
	CodeMemoryLimit      = "memory_limit"       // 500: the guest needed more than MemoryPages
	CodeTrap             = "guest_trap"         // 500: the guest panicked or trapped
	CodeABIViolation     = "abi_violation"      // 502: the guest answered something the ABI forbids
	CodeResponseTooLarge = "response_too_large" // 502: the response exceeded MaxResponseBytes
	CodeWorkerRestarted  = "worker_restarted"   // 503: an operator restarted the instance mid-call (RestartWorkers, not graceful)
	CodeUnloaded         = "unloaded"           // 503: the version was swapped out or unloaded, or the runtime closed, and its call outlived Options.DrainTimeout
)

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

// UnloadedError is the answer to a call on a version that left the
// snapshot when its call outlived the drain timeout.
func UnloadedError(name string) *CallError {
	return &CallError{Status: http.StatusServiceUnavailable, Code: CodeUnloaded,
		Msg: "processor " + name + " was unloaded or replaced while this call ran, and the call outlived the drain timeout; retry", Discard: true}
}

// guestError maps an error from a guest call. stderr is what the guest wrote
// to standard error during the call, usually a panic message; nearLimit says
// whether its memory had grown to the limit.
func guestError(err error, stderr string, nearLimit bool) *CallError {
	switch {
	case nearLimit || strings.Contains(stderr, "out of memory"):
		return &CallError{Status: http.StatusInternalServerError, Code: CodeMemoryLimit,
			Msg: "processor ran out of memory; raise limits.memoryPages if it needs more", Err: WithStderr(err, stderr), Discard: true}
	}
	return &CallError{Status: http.StatusInternalServerError, Code: CodeTrap, Msg: "processor failed" + panicSuffix(stderr),
		Err: WithStderr(err, stderr), Discard: true}
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

// WithStderr adds what the guest wrote to standard error to err: the panic
// line when there is one (a Go guest's goroutine dump would drown it), else
// the last line.
func WithStderr(err error, stderr string) error {
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
