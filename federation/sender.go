package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// maxPending bounds the reports kept in memory while the Queue refuses
// them (a full or broken disk); past it the oldest are dropped and counted
// in the next report's Dropped.
const maxPending = 100

// senderLoop delivers the queue, oldest first, while the Link runs: it
// starts after the first registration, retries a report with backoff until
// the federation takes or refuses it, and sleeps until the next Append when
// the queue is empty.
func (l *Link) senderLoop() {
	if !l.waitRegistered() {
		return
	}
	_ = l.send(l.ctx, false)
}

// send delivers the queue until ctx ends or, when untilEmpty, until the
// queue is empty. A failed report is retried with backoff (honouring a
// longer Retry-After) so that order is kept. It returns ctx's error when ctx
// ended first.
func (l *Link) send(ctx context.Context, untilEmpty bool) error {
	// The loop's delivery in flight when the Link stops is let finish (the
	// HTTP client's timeout bounds it): cancelled midway, the federation
	// may have recorded a report whose answer never came back, and the
	// final flush would send it twice. The final flush itself keeps its
	// deadline.
	reqCtx := ctx
	if !untilEmpty {
		reqCtx = context.WithoutCancel(ctx)
	}
	attempt := 0
	for {
		sent, err := l.sendOne(reqCtx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			d := max(l.opts.Backoff.Delay(attempt), RetryAfter(err))
			attempt++
			l.log.Warn("analytics report not delivered; retrying it", "attempt", attempt, "retry_in", d, "error", err)
			if sleep(ctx, d) != nil {
				return ctx.Err()
			}
		case sent:
			attempt = 0
		case untilEmpty:
			return nil
		default:
			attempt = 0
			l.idle(ctx)
		}
	}
}

// idle waits for an Append, for ctx to end, or for an interval to pass (a
// safety net should a notification be missed).
func (l *Link) idle(ctx context.Context) {
	t := time.NewTimer(l.opts.AnalyticsInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-l.opts.Queue.Notify():
	case <-t.C:
	}
}

// sendOne delivers the oldest queued report. It reports sent true when a
// report left the queue (delivered or set aside), false with a nil error
// when the queue is empty, and an error when the report stays queued and
// should be retried later.
func (l *Link) sendOne(ctx context.Context) (bool, error) {
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	q := l.opts.Queue
	if l.unremoved != nil {
		if err := q.Remove(*l.unremoved); err != nil {
			return false, fmt.Errorf("remove delivered analytics report %d from the queue: %w", *l.unremoved, err)
		}
		l.unremoved = nil
	}
	seq, data, ok, err := q.Peek()
	if err != nil || !ok {
		return false, wrapIf(err, "read the analytics queue")
	}
	err = l.sess.Do(ctx, func(ctx context.Context, token string) error {
		return l.opts.Client.ReportAnalytics(ctx, token, data)
	})
	if err == nil {
		if err := q.Remove(seq); err != nil {
			l.unremoved = &seq // not sent again: only removed again
			return false, fmt.Errorf("remove delivered analytics report %d from the queue: %w", seq, err)
		}
		return true, nil
	}
	if !refused(err) {
		return false, err
	}
	return true, l.setAside(seq, err)
}

// refused reports whether err is the federation refusing the report itself,
// for good: a non-retriable answer to the analytics call. A failed
// re-registration or a 401 that persists is about the session, not the
// report, and is retried.
func refused(err error) bool {
	var fe *Error
	return errors.As(err, &fe) && fe.Op == OpAnalytics && fe.Status != 0 && !Retriable(err) && !Unauthorized(err)
}

// setAside moves a refused report out of the queue so that the next one can
// go, and says so loudly.
func (l *Link) setAside(seq uint64, refusal error) error {
	reason := refusal.Error()
	l.log.Error("the federation refused an analytics report; setting it aside, not retrying it", "seq", seq, "error", refusal)
	if err := l.opts.Queue.SetAside(seq, reason); err != nil {
		return fmt.Errorf("set refused analytics report %d aside: %w", seq, err)
	}
	l.emit("analytics_report_set_aside", map[string]any{"seq": seq, "reason": reason})
	return nil
}

// enqueue takes the neuron's report for the interval and appends it to the
// Queue. If the Queue refuses it, the report is kept in memory (up to
// maxPending) and appended before the next one.
func (l *Link) enqueue() error {
	rep := l.opts.Neuron.Analytics()
	l.enqMu.Lock()
	defer l.enqMu.Unlock()
	if rep.NeuronID == "" {
		rep.NeuronID = l.opts.Neuron.Registration().NeuronID
	}
	if rep.Timestamp == "" {
		rep.Timestamp = time.Now().UTC().Format(time.RFC3339)
	}
	rep.Dropped += l.dropped
	sanitizeReport(&rep)
	data, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encode analytics report: %w", err)
	}
	l.dropped = 0
	l.pending = append(l.pending, data)
	if over := len(l.pending) - maxPending; over > 0 {
		l.pending = l.pending[over:]
		l.dropped += int64(over)
	}
	for len(l.pending) > 0 {
		if err := l.opts.Queue.Append(l.pending[0]); err != nil {
			l.log.Error("the analytics queue refused a report; keeping it in memory and trying again with the next one",
				"pending", len(l.pending), "error", err)
			return fmt.Errorf("append to the analytics queue (%d reports held in memory): %w", len(l.pending), err)
		}
		l.pending = l.pending[1:]
	}
	return nil
}

// sanitizeReport replaces NaN and infinities, which JSON cannot carry, by 0,
// and drops event data that is not valid JSON, so that one bad value cannot
// lose a whole report.
func sanitizeReport(r *AnalyticsReport) {
	for i := range r.Events {
		if len(r.Events[i].Data) > 0 && !json.Valid(r.Events[i].Data) {
			r.Events[i].Data = nil
		}
	}
	r.Metrics.AverageResponseTime = finite(r.Metrics.AverageResponseTime)
	finiteMap(r.Metrics.CustomMetrics)
	for i := range r.Breakdown {
		r.Breakdown[i].AverageResponseTime = finite(r.Breakdown[i].AverageResponseTime)
		finiteMap(r.Breakdown[i].CustomMetrics)
	}
}

// sanitizeStatus replaces NaN and infinities in a heartbeat by 0.
func sanitizeStatus(s *Status) {
	for _, f := range []*float64{
		&s.SystemMetrics.CPUUsage, &s.SystemMetrics.MemoryUsage, &s.SystemMetrics.DiskUsage,
		&s.ApplicationMetrics.RequestsPerSecond, &s.ApplicationMetrics.AverageResponseTime,
		&s.PerformanceMetrics.SuccessRate,
	} {
		*f = finite(*f)
	}
}

func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

func finiteMap(m map[string]float64) {
	for k, v := range m {
		m[k] = finite(v)
	}
}

func wrapIf(err error, what string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
