package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Operations, the Op of an *Error: which federation call failed.
const (
	OpRegister  = "register"
	OpStatus    = "status"
	OpAnalytics = "analytics"
	OpConfig    = "config"
)

// Limits on what is kept of a federation's answer.
const (
	// maxMessageBytes bounds Error.Message: enough for any sensible
	// explanation, small enough for a log line.
	maxMessageBytes = 512
	// MaxRetryAfter clamps a Retry-After so that a misconfigured federation
	// cannot park the neuron's analytics queue for a day.
	MaxRetryAfter = 10 * time.Minute
)

// Error is a failed federation call: a network failure (Status 0, Err set),
// an answer with a non-2xx status, or a 2xx answer that is unusable (a
// registration without a token). Message is the federation's own
// explanation, taken from a JSON "error" or "message" field or the text of
// the body, truncated. RetryAfter is the answer's Retry-After, if any.
//
// Branch on it with Retriable, Unauthorized and RetryAfter rather than on
// the fields.
type Error struct {
	Op         string
	Status     int
	Message    string
	RetryAfter time.Duration
	Err        error
}

// Error describes the failure with the operation first, for logs:
// "federation status: HTTP 503: database down".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("federation ")
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error (network, decoding), if any.
func (e *Error) Unwrap() error { return e.Err }

// Retriable reports whether err is worth retrying later: a network failure
// or timeout, or an answer of 408, 425, 429 or 5xx. Anything else (a 4xx, a
// malformed answer) fails again the same way until someone fixes it. A
// cancelled context is not retriable: the caller gave up.
func Retriable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var fe *Error
	if errors.As(err, &fe) {
		switch {
		case fe.Status == 0: // the client's transport failures: no answer came
			return true
		case fe.Status == http.StatusRequestTimeout, fe.Status == http.StatusTooEarly, fe.Status == http.StatusTooManyRequests:
			return true
		}
		return fe.Status >= 500 && fe.Status <= 599
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne)
}

// Unauthorized reports whether the federation answered 401: the token is
// unknown, expired or superseded, and registering again gets a fresh one.
func Unauthorized(err error) bool {
	var fe *Error
	return errors.As(err, &fe) && fe.Status == http.StatusUnauthorized
}

// RetryAfter returns how long the federation asked to wait before the next
// call (the Retry-After of the answer that err describes), or 0.
func RetryAfter(err error) time.Duration {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.RetryAfter
	}
	return 0
}

// parseRetryAfter reads a Retry-After header in either of its forms, a
// number of seconds or an HTTP date, relative to now. Absent, malformed or
// past values are 0; values past MaxRetryAfter are clamped to it.
func parseRetryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(h, 10, 64); err == nil {
		if secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}

// answerMessage extracts the federation's explanation from an answer body:
// the "error" or "message" string of a JSON object, else the text itself,
// truncated to maxMessageBytes on a rune boundary.
func answerMessage(body []byte) string {
	var obj struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &obj) == nil {
		var s string
		switch {
		case json.Unmarshal(obj.Error, &s) == nil && s != "":
			msg = s
		case obj.Message != "":
			msg = obj.Message
		}
	}
	return truncate(strings.Join(strings.Fields(msg), " "), maxMessageBytes)
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
