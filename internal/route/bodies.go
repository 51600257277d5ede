package route

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/empirefederation/neuron/internal/guest"
)

// bodyStep is how much of the budget a body of unknown length (chunked)
// reserves at a time, before reading that much more.
const bodyStep = 64 << 10

// bodyBudget bounds the bytes of request bodies the runtime holds at once,
// across every endpoint, so that many clients sending large bodies slowly
// cannot make the host buffer without bound. A request over the budget is
// refused before its body is read. See docs/design.md, "Request bodies: a
// budget and a deadline".
type bodyBudget struct {
	max  int64
	used atomic.Int64
}

// take reserves n bytes, or reserves nothing and reports false when they
// do not fit. It never waits: a request that does not fit is answered at
// once, so waiting clients hold nothing.
func (b *bodyBudget) take(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

// heldBody is the share of the budget one request holds until its call
// ends: its body stays in the request buffer until then.
type heldBody struct {
	budget *bodyBudget
	n      int64
}

// release returns the share to the budget.
func (h *heldBody) release() {
	if h.n != 0 {
		h.budget.used.Add(-h.n)
		h.n = 0
	}
}

// reserve adds n bytes to the share, or reports false.
func (h *heldBody) reserve(n int64) bool {
	if !h.budget.take(n) {
		return false
	}
	h.n += n
	return true
}

var (
	errBodyTooLarge = errors.New("body too large")
	errBodyBudget   = errors.New("request body budget exhausted")
)

// readBody appends r's body to buf, at most limit bytes, within
// deadline, reserving each byte from the budget before it is read: a body
// of known length all at once, so that a request over the budget is
// refused before any of it is read, else bodyStep at a time. w's
// connection gets the read deadline for the time of the read.
func (h *heldBody) readBody(w http.ResponseWriter, r *http.Request, buf []byte, limit int64, deadline time.Time) ([]byte, error) {
	rc := http.NewResponseController(w)
	if r.ContentLength > 0 && !h.reserve(r.ContentLength) {
		stopReading(rc)
		return buf, errBodyBudget
	}
	if err := rc.SetReadDeadline(deadline); err != nil && !errors.Is(err, http.ErrNotSupported) { // not supported: not a network connection (a test's recorder)
		return buf, fmt.Errorf("set the body read deadline: %w", err)
	}
	var err error
	if r.ContentLength > 0 {
		buf, err = readKnown(r.Body, buf, r.ContentLength)
	} else {
		buf, err = h.readChunked(r.Body, buf, limit)
	}
	if err != nil {
		stopReading(rc)
		return buf, err
	}
	// Cleared once read: the server keeps reading the connection in the
	// background during the call, to notice a client leaving, and a
	// deadline left there would end the call as if it had.
	_ = rc.SetReadDeadline(time.Time{})
	return buf, nil
}

// stopReading makes every later read of a request's connection fail at
// once: the server would otherwise read what is left of a refused body
// before closing the connection (see closesConnection), as slowly as the
// client sends it.
func stopReading(rc *http.ResponseController) { _ = rc.SetReadDeadline(time.Now()) }

// readKnown appends exactly n bytes of body to buf, growing it once. The
// server's body reader returns io.EOF with the last bytes, which is when
// the server starts watching the connection, to end the call's wait for
// an instance if the client leaves (TestBodyClientLeaves).
func readKnown(body io.Reader, buf []byte, n int64) ([]byte, error) {
	start := len(buf)
	buf = slices.Grow(buf, int(n))[:start+int(n)]
	_, err := io.ReadFull(body, buf[start:])
	return buf, err
}

// readChunked appends a body of unknown length to buf, failing once it
// holds more than limit bytes or the budget refuses the next step.
func (h *heldBody) readChunked(body io.Reader, buf []byte, limit int64) ([]byte, error) {
	start, base := len(buf), h.n
	for {
		got := int64(len(buf) - start)
		if got > limit {
			return buf, errBodyTooLarge
		}
		if got == h.n-base && !h.reserve(min(bodyStep, limit+1-got)) {
			return buf, errBodyBudget
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		end := min(cap(buf), len(buf)+int(h.n-base-got))
		n, err := body.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if int64(len(buf)-start) > limit {
				return buf, errBodyTooLarge
			}
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// bodyError maps a failure to read a request body.
func bodyError(err error, limit, budget int64, timeout time.Duration) *guest.CallError {
	switch {
	case errors.Is(err, errBodyTooLarge):
		return bodyTooLarge(limit)
	case errors.Is(err, errBodyBudget):
		return &guest.CallError{Status: http.StatusServiceUnavailable, Code: CodeBodyBudget,
			Msg: fmt.Sprintf("the neuron holds its budget of %d bytes of request bodies in flight (requestBodyBudget); retry shortly", budget), Err: err}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &guest.CallError{Status: http.StatusRequestTimeout, Code: CodeBodyTimeout,
			Msg: fmt.Sprintf("the request body was not received within %v (requestBodyTimeout)", timeout), Err: err}
	}
	return &guest.CallError{Status: http.StatusBadRequest, Code: CodeBadRequest, Msg: "could not read the request body", Err: err}
}

// bodyTooLarge is the answer to a body over limit, the processor's
// maxBodyBytes capped by the neuron's requestBodyBudget.
func bodyTooLarge(limit int64) *guest.CallError {
	return &guest.CallError{Status: http.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge,
		Msg: fmt.Sprintf("request body exceeds the limit of %d bytes (limits.maxBodyBytes, at most requestBodyBudget)", limit)}
}

// closesConnection reports whether the failure left the request's body
// unread or half read: the connection is closed rather than drained, so
// that the client cannot hold it by sending the rest slowly. A body over
// its limit is one too: a chunked one is refused half read, after
// stopReading left the connection a read deadline in the past, which
// would cancel every later request on it as it arrives (a server without
// ReadHeaderTimeout never resets it).
func closesConnection(cerr *guest.CallError) bool {
	return cerr.Code == CodeBodyBudget || cerr.Code == CodeBodyTimeout || cerr.Code == CodeBodyTooLarge
}
