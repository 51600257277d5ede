package route

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/empirefederation/neuron/internal/ratelimit"
)

// CodeRateLimited is the code of a 429: the caller's or the processor's
// rate limit (runtime.Options.RateLimits, Dynamic.RateLimits) refused the
// request before its body was read.
const CodeRateLimited = "rate_limited"

// CallerKey is who makes request r, the key of its caller's rate limit:
// the subject of its verified token ("sub " and the subject, which no
// address can be), else the client address (the host of r.RemoteAddr,
// without the port), never a header a client could set
// (X-Forwarded-For). This is the one place that decides. Without a
// subject it does not allocate: the host is a slice of RemoteAddr.
func CallerKey(r *http.Request, subject string) string {
	if subject != "" {
		return "sub " + subject
	}
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}

// limited answers r 429 when a rate limit refuses it, and reports whether
// it did; subject is its verified caller's, "" for none. It costs one
// atomic load while no limit is set.
func (e *endpoint) limited(w http.ResponseWriter, r *http.Request, subject string) bool {
	now := time.Now()
	refusal, ok := e.srv.Rate.Allow(CallerKey(r, subject), e.p.Name(), now)
	if ok {
		return false
	}
	secs := strconv.Itoa(max(1, int(math.Ceil(refusal.Wait.Seconds()))))
	h := w.Header()
	h.Set("Retry-After", secs)
	h.Set("RateLimit-Limit", strconv.Itoa(refusal.Burst))
	h.Set("RateLimit-Remaining", "0")
	h.Set("RateLimit-Reset", secs)
	w.Header()[HeaderPlugin] = e.plugin
	msg := "too many requests from this client; retry after " + secs + " s"
	if refusal.Scope == ratelimit.ScopePlugin {
		msg = "processor " + e.p.Name() + " takes no more requests now; retry after " + secs + " s"
	}
	e.metrics.errors.WithLabelValues(CodeRateLimited).Inc()
	e.metrics.limited.WithLabelValues(string(refusal.Scope)).Inc()
	n := writeError(w, http.StatusTooManyRequests, CodeRateLimited, msg)
	e.metrics.observe(exchange{status: http.StatusTooManyRequests, out: n}, time.Since(now))
	return true
}
