package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Default periods of the Link's loops, as the contract's defaults for
// NEURON_HEARTBEAT_INTERVAL, NEURON_ANALYTICS_INTERVAL and
// NEURON_CONFIG_POLL_INTERVAL.
const (
	DefaultHeartbeatInterval  = 60 * time.Second
	DefaultAnalyticsInterval  = 60 * time.Second
	DefaultConfigPollInterval = 30 * time.Second
)

// periodJitter spreads heartbeats and config polls by ±10% so that neurons
// started together do not call the federation together.
const periodJitter = 0.1

// Neuron is what the Link needs of the neuron; the agent implements it. The
// Link calls it from its own goroutines, so every method must be safe for
// concurrent use and return promptly.
type Neuron interface {
	// Registration describes the neuron as it is now (what is loaded); it
	// is called at each registration and must be cheap.
	Registration() Registration
	// Status returns the heartbeat; it must never block on sampling.
	Status() Status
	// Analytics returns the report for the interval since the previous
	// call, and starts a new interval.
	Analytics() AnalyticsReport
	// ApplyUpdate applies an update fetched from the federation (source
	// "poll"). Rejections are the neuron's to record and report; the Link
	// only logs them.
	ApplyUpdate(ctx context.Context, u Update, source string) error
}

// Queue is the durable analytics queue (internal/spool implements it).
// Reports are appended as encoded JSON and leave it only when the federation
// accepted them (Remove) or refused them for good (SetAside).
type Queue interface {
	// Append stores a report durably, at the tail.
	Append(data []byte) error
	// Peek returns the oldest report, with ok false when the queue is empty.
	Peek() (seq uint64, data []byte, ok bool, err error)
	// Remove deletes the report seq, once it has been delivered.
	Remove(seq uint64) error
	// SetAside moves the report seq out of the queue, with the reason the
	// federation refused it, for an operator to look at.
	SetAside(seq uint64, reason string) error
	// Notify returns a channel that receives after each Append.
	Notify() <-chan struct{}
}

// LinkOptions configure StartLink. Client, Neuron and Queue are required;
// zero intervals and Backoff take the defaults.
type LinkOptions struct {
	Client *Client
	Neuron Neuron
	Queue  Queue
	// Logger receives the Link's logs; nil discards them.
	Logger *slog.Logger

	HeartbeatInterval  time.Duration
	AnalyticsInterval  time.Duration
	ConfigPollInterval time.Duration
	// Backoff spaces out retries of registration and of the analytics
	// queue; the zero value is Base 1s, Max 60s.
	Backoff Backoff
	// TokenFile, when set, is where the token of the latest registration
	// is kept (0600, with the federation's URL, replaced atomically), so
	// that after a restart the first registration presents it: the
	// federation registers a live id again only for the instance holding
	// its current token. Empty: the token lives in memory only, and a
	// restart within the federation's offline period is refused (409)
	// until the old registration goes offline.
	TokenFile string
	// Events, when set, receives the Link's own events (for example
	// "federation_registered") so that the neuron can report them with its
	// analytics. It must not block.
	Events func(Event)
}

// Link keeps a neuron joined to the federation: it registers (and registers
// again when refused, when the registration changes, or to renew a token
// before it expires), sends heartbeats, polls config, and reports analytics
// through the durable Queue. Its methods are safe for concurrent use.
type Link struct {
	opts  LinkOptions
	log   *slog.Logger
	sess  *Session
	token tokenFile // LinkOptions.TokenFile

	ctx    context.Context // cancelled by Stop; every loop ends with it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	registered chan struct{} // closed by the first registration
	regOnce    sync.Once
	changed    chan struct{} // RegistrationChanged signals, one pending at most
	fetchNow   chan struct{} // a config fetch is due (after each registration)
	// rescheduled: a registration replaced the token, so its renewal is
	// to be scheduled again (see registrationLoop)
	rescheduled chan struct{}

	enqMu   sync.Mutex // guards pending and dropped
	pending [][]byte   // encoded reports the Queue has not accepted yet
	dropped int64      // reports dropped from pending since the last report

	sendMu    sync.Mutex // one report in flight at a time, in queue order
	unremoved *uint64    // a delivered report whose Remove failed; guarded by sendMu

	beginOnce sync.Once
	stopOnce  sync.Once
	stopErr   error
}

// StartLink starts the Link's loops and returns at once: serving never
// waits for the federation. The loops run until Stop (or until ctx ends, in
// which case Stop still sends the final heartbeat and report). It panics if
// Client, Neuron or Queue is nil, which is a programming error.
func StartLink(ctx context.Context, opts LinkOptions) *Link {
	opts = withDefaults(opts)
	l := &Link{
		opts:        opts,
		log:         opts.Logger.With("component", "federation"),
		registered:  make(chan struct{}),
		changed:     make(chan struct{}, 1),
		fetchNow:    make(chan struct{}, 1),
		rescheduled: make(chan struct{}, 1),
	}
	l.ctx, l.cancel = context.WithCancel(ctx)
	l.sess = NewSession(opts.Client, opts.Neuron.Registration)
	l.sess.onRegister = l.onRegister
	l.token = tokenFile{path: opts.TokenFile, base: opts.Client.BaseURL()}
	prior, err := l.token.load()
	if err != nil {
		l.log.Warn("registering without the previous token", "error", err)
	}
	l.sess.prior = prior
	for _, loop := range []func(){l.registrationLoop, l.heartbeatLoop, l.configLoop, l.analyticsLoop, l.senderLoop} {
		l.wg.Go(loop)
	}
	return l
}

func withDefaults(opts LinkOptions) LinkOptions {
	switch {
	case opts.Client == nil:
		panic("federation: StartLink: LinkOptions.Client is nil")
	case opts.Neuron == nil:
		panic("federation: StartLink: LinkOptions.Neuron is nil")
	case opts.Queue == nil:
		panic("federation: StartLink: LinkOptions.Queue is nil")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.HeartbeatInterval = orDefault(opts.HeartbeatInterval, DefaultHeartbeatInterval)
	opts.AnalyticsInterval = orDefault(opts.AnalyticsInterval, DefaultAnalyticsInterval)
	opts.ConfigPollInterval = orDefault(opts.ConfigPollInterval, DefaultConfigPollInterval)
	opts.Backoff.Base, opts.Backoff.Max = opts.Backoff.bounds()
	return opts
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Registered reports whether the neuron has registered with the federation.
func (l *Link) Registered() bool { return l.sess.Registered() }

// Token returns the token the federation issued at the latest registration
// ("" before the first), against which pushed updates are checked.
func (l *Link) Token() string { return l.sess.Token() }

// RegistrationChanged tells the Link that what the neuron serves may have
// changed. It does not block: the Link registers again, in the background,
// if Neuron.Registration now encodes differently from what was registered.
func (l *Link) RegistrationChanged() { signal(l.changed) }

// ErrNotRegistered is returned (wrapped) by Flush before the
// neuron has registered: there is no token to call the federation with yet.
var ErrNotRegistered = errors.New("the neuron has not registered with the federation yet")

// Flush enqueues an analytics report for the interval so far and tries once
// to send everything queued (the flush_analytics command). When it returns an
// error the reports stay queued and the Link keeps retrying them.
func (l *Link) Flush(ctx context.Context) error {
	if err := l.enqueue(); err != nil {
		return fmt.Errorf("flush analytics: %w", err)
	}
	if !l.sess.Registered() {
		return fmt.Errorf("flush analytics: the report is queued, not sent: %w", ErrNotRegistered)
	}
	for {
		sent, err := l.sendOne(ctx)
		if err != nil {
			return fmt.Errorf("flush analytics: the reports stay queued and are retried: %w", err)
		}
		if !sent {
			return nil
		}
	}
}

// BeginStop is the first half of Stop, for a neuron that drains between
// the two: it stops the loops and sends the heartbeat with status
// "stopping" (if registered, best effort), so the federation knows before
// in-flight calls drain. Pushed updates are still accepted (the token stays
// valid). Calling it again does nothing.
func (l *Link) BeginStop(ctx context.Context) {
	l.beginOnce.Do(func() {
		l.cancel()
		l.wg.Wait()
		if l.sess.Registered() {
			l.sendStopping(ctx)
		}
	})
}

// Stop ends the Link: BeginStop if it was not called, then it enqueues the
// final analytics report durably and tries to send the queue until it is
// empty or ctx ends; what is not sent stays queued for the next start. It
// returns an error only if the final report could not be stored. Calling
// Stop again returns the first call's result.
func (l *Link) Stop(ctx context.Context) error {
	l.BeginStop(ctx)
	l.stopOnce.Do(func() {
		if err := l.enqueue(); err != nil {
			l.stopErr = fmt.Errorf("stop federation link: final analytics report: %w", err)
		}
		if l.sess.Registered() && l.send(ctx, true) != nil {
			l.log.Warn("analytics reports stay queued; they are sent after the next start", "error", ctx.Err())
		}
	})
	return l.stopErr
}

// sendStopping sends the final heartbeat, with status "stopping".
func (l *Link) sendStopping(ctx context.Context) {
	st := l.opts.Neuron.Status()
	st.Status = StatusStopping
	sanitizeStatus(&st)
	err := l.sess.Do(ctx, func(ctx context.Context, token string) error {
		return l.opts.Client.SendStatus(ctx, token, st)
	})
	if err != nil {
		l.log.Warn("final heartbeat failed", "error", err)
		return
	}
	l.log.Info("sent the stopping heartbeat")
}

// onRegister is the Session's hook after each registration. It runs while
// the registration lock is held, so it only keeps the token (one small
// file), logs and signals.
func (l *Link) onRegister(token string, gen uint64, reason string) {
	if err := l.token.save(token); err != nil {
		l.log.Warn("the token is not kept: a restart before this registration goes offline is refused by the federation", "error", err)
	}
	expires, renews := "unknown", "never"
	if _, exp, ok := tokenTimes(token); ok {
		expires = exp.Format(time.RFC3339)
	}
	if at, _ := l.sess.renewal(); !at.IsZero() {
		renews = at.UTC().Format(time.RFC3339)
	}
	l.log.Info("registered with the federation", "federation", l.opts.Client.BaseURL(),
		"registration", gen, "reason", reason, "token_expires", expires, "token_renews", renews)
	l.regOnce.Do(func() { close(l.registered) })
	signal(l.fetchNow)
	signal(l.rescheduled)
	l.emit("federation_registered", map[string]any{"registration": gen, "reason": reason})
}

// emit sends one of the Link's own events to LinkOptions.Events.
func (l *Link) emit(typ string, data any) {
	if l.opts.Events == nil {
		return
	}
	raw, err := json.Marshal(data)
	if err != nil {
		raw = nil
	}
	l.opts.Events(Event{ID: NewEventID(), Type: typ, Timestamp: time.Now().UTC(), Data: raw})
}

// waitRegistered blocks until the first registration, reporting false if
// the Link stopped first.
func (l *Link) waitRegistered() bool {
	select {
	case <-l.registered:
		return true
	case <-l.ctx.Done():
		return false
	}
}

// signal makes a non-blocking send on a channel with a buffer of one: at
// most one signal is pending.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
