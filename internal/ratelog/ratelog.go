// Package ratelog rate-limits a log/slog handler: a processor that fails,
// or logs, thousands of times a second writes a few lines a second, and
// the next line written says how many were suppressed before it. It
// passes the records it lets through unchanged and decides nothing about
// levels or destinations, which stay with the handler it wraps; it imports
// nothing of the neuron (the standard library and golang.org/x/time/rate
// only), so the runtime can wrap each processor's loggers with it.
//
//	log := slog.New(ratelog.New(h, rate.Limit(1), 10))
//	log.Error("call failed") // past the burst: dropped and counted
//	// a later line carries suppressed=N
package ratelog

import (
	"context"
	"log/slog"
	"sync/atomic"

	"golang.org/x/time/rate"
)

// SuppressedKey is the attribute that gives the count of lines dropped
// since the last one written.
const SuppressedKey = "suppressed"

// Handler writes records to the handler it wraps at most at its rate, with
// bursts; the others are counted, and the count is added to the next
// record written. Handlers derived by WithAttrs and WithGroup share the
// limit. Safe for concurrent use.
type Handler struct {
	next  slog.Handler
	state *state
}

type state struct {
	limit      *rate.Limiter
	suppressed atomic.Int64
}

// New returns a Handler writing to next at most every 1/r on average, and
// burst records at once.
func New(next slog.Handler, r rate.Limit, burst int) *Handler {
	return &Handler{next: next, state: &state{limit: rate.NewLimiter(r, burst)}}
}

// Enabled reports whether next handles level: a record below it takes no
// share of the rate.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle writes r if the rate allows it, with the count of the records
// suppressed before it, or counts it.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if !h.state.limit.Allow() {
		h.state.suppressed.Add(1)
		return nil
	}
	if n := h.state.suppressed.Swap(0); n > 0 {
		r = r.Clone() // the caller's record must not change
		r.AddAttrs(slog.Int64(SuppressedKey, n))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a Handler adding attrs, sharing h's limit.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(attrs), state: h.state}
}

// WithGroup returns a Handler opening group name, sharing h's limit.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), state: h.state}
}

var _ slog.Handler = (*Handler)(nil)
