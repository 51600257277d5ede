package federation

import (
	"context"
	"time"
)

// registrationLoop registers at start, with backoff until it succeeds, then
// registers again whenever RegistrationChanged finds a difference, and
// renews an expiring token ahead of its exp (see renewalTime). Every
// registration, this loop's or a 401's (Session.Do), reschedules the
// renewal.
func (l *Link) registrationLoop() {
	if l.registerUntilDone(reasonBoot, nil) != nil {
		return
	}
	renew := time.NewTimer(time.Hour)
	renew.Stop()
	defer renew.Stop()
	var gen uint64 // the registration renew is set for
	for {
		var err error
		select {
		case <-l.ctx.Done():
			return
		case <-l.rescheduled:
			gen = l.scheduleRenewal(renew)
			continue
		case <-renew.C:
			// Only if no other registration renewed the token meanwhile.
			err = l.registerUntilDone(reasonRenewal, &gen)
		case <-l.changed:
			if !l.sess.Changed() {
				l.log.Debug("registration unchanged; not registering again")
				continue
			}
			err = l.registerUntilDone(reasonChanged, nil)
		}
		if err != nil {
			return
		}
	}
}

// scheduleRenewal sets t to fire when the current token is due for
// renewal (stopped when it never is), and returns the registration's
// generation.
func (l *Link) scheduleRenewal(t *time.Timer) uint64 {
	at, gen := l.sess.renewal()
	t.Stop()
	if !at.IsZero() {
		t.Reset(time.Until(at))
	}
	return gen
}

// registerUntilDone registers, retrying until it succeeds or the Link
// stops; with gen set, only while the registration is still the one of
// generation *gen (a renewal another registration made moot is done).
// Retriable failures back off with full jitter; a refusal (a 4xx, a
// malformed answer) is logged as an error and retried at the Backoff's
// Max, since only a fix on one side or the other can help and the operator
// may be making it now.
func (l *Link) registerUntilDone(reason string, gen *uint64) error {
	for attempt := 0; ; attempt++ {
		err := l.sess.register(l.ctx, reason, gen)
		if err == nil || l.ctx.Err() != nil {
			return l.ctx.Err()
		}
		var d time.Duration
		if Retriable(err) {
			d = max(l.opts.Backoff.Delay(attempt), RetryAfter(err))
			l.log.Warn("federation registration failed; retrying", "attempt", attempt+1, "retry_in", d, "error", err)
		} else {
			d = max(Jitter(l.opts.Backoff.Max, periodJitter), RetryAfter(err))
			l.log.Error("the federation refused the registration; check its message and the neuron's identity; retrying",
				"attempt", attempt+1, "retry_in", d, "error", err)
		}
		if sleep(l.ctx, d) != nil {
			return l.ctx.Err()
		}
	}
}

// heartbeatLoop sends a heartbeat right after the first registration, then
// every HeartbeatInterval (±10%). A failed heartbeat is logged and not
// retried: the next one is as good, and a stale one is useless.
func (l *Link) heartbeatLoop() {
	if !l.waitRegistered() {
		return
	}
	failures := 0
	for {
		next := Jitter(l.opts.HeartbeatInterval, periodJitter)
		if err := l.heartbeat(l.ctx); err != nil && l.ctx.Err() == nil {
			failures++
			l.log.Warn("heartbeat failed; the next one is on schedule", "attempt", failures, "retry_in", next, "error", err)
		} else {
			failures = 0
		}
		if sleep(l.ctx, next) != nil {
			return
		}
	}
}

// heartbeat sends one heartbeat.
func (l *Link) heartbeat(ctx context.Context) error {
	st := l.opts.Neuron.Status()
	sanitizeStatus(&st)
	err := l.sess.Do(ctx, func(ctx context.Context, token string) error {
		return l.opts.Client.SendStatus(ctx, token, st)
	})
	if err == nil {
		l.log.Debug("heartbeat sent", "status", st.Status, "health_score", st.HealthScore)
	}
	return err
}

// configLoop fetches the config after each registration and every
// ConfigPollInterval (±10%), and hands what it gets to the neuron.
func (l *Link) configLoop() {
	if !l.waitRegistered() {
		return
	}
	t := time.NewTimer(Jitter(l.opts.ConfigPollInterval, periodJitter))
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-l.fetchNow:
		case <-t.C:
		}
		l.pollConfig(l.ctx)
		t.Reset(Jitter(l.opts.ConfigPollInterval, periodJitter))
	}
}

// pollConfig fetches the config once and applies it unless it is empty.
func (l *Link) pollConfig(ctx context.Context) {
	var u Update
	err := l.sess.Do(ctx, func(ctx context.Context, token string) error {
		var err error
		u, err = l.opts.Client.FetchConfig(ctx, token)
		return err
	})
	switch {
	case err != nil:
		if ctx.Err() == nil {
			l.log.Warn("config poll failed; polling again on schedule", "error", err)
		}
	case u.Empty():
		l.log.Debug("config poll: nothing to apply")
	default:
		if err := l.opts.Neuron.ApplyUpdate(ctx, u, "poll"); err != nil {
			l.log.Warn("the neuron did not apply the polled update", "version", u.Version, "error", err)
		}
	}
}

// analyticsLoop enqueues a report every AnalyticsInterval, registered or
// not: the queue holds them until the federation takes them.
func (l *Link) analyticsLoop() {
	t := time.NewTicker(l.opts.AnalyticsInterval)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
			_ = l.enqueue() // logged by enqueue; the report is kept in memory
		}
	}
}
