// Package probe checks the services a neuron depends on (PostgreSQL, Redis,
// any TCP or HTTP service) by speaking their protocol, and keeps the latest
// status of each for the heartbeat's dependencyStatus and GET /health.
// A probe connects and, where the protocol has one, asks a harmless
// question (SELECT 1, PING, an HTTP GET): it never writes to a service.
// It imports nothing of the neuron; the agent hands the statuses to the
// report and the HTTP server.
//
// A [Prober] probes every [Dependency] in the background, each in its own
// goroutine, so reading the status never blocks:
//
//	p, err := probe.Start(ctx, deps, log)
//	if err != nil { ... }   // every invalid dependency, named
//	defer p.Stop()
//	status := p.Status()    // {"postgresql": "healthy", "redis": "unknown"}
//
// [Check] runs one probe and is what the Prober calls.
package probe

import (
	"context"
	"fmt"
	"regexp"
	"time"
)

// Kind says which protocol a probe speaks; Kinds lists them all.
type Kind string

// The kinds of probe. Each one proves more than the one before it: a TCP
// probe only that something accepts connections, the others that the
// service behind the port answers correctly.
const (
	// KindTCP connects to host:port and closes the connection.
	KindTCP Kind = "tcp"
	// KindHTTP sends GET to a URL; any 2xx or 3xx answer is healthy.
	// Redirects are not followed.
	KindHTTP Kind = "http"
	// KindPostgres connects with the PostgreSQL protocol, authenticates
	// and runs SELECT 1.
	KindPostgres Kind = "postgres"
	// KindRedis connects with the Redis protocol, authenticates and sends
	// PING, which must answer PONG.
	KindRedis Kind = "redis"
)

// The statuses a dependency can have, as they appear in dependencyStatus.
const (
	// StatusHealthy means the last probe succeeded.
	StatusHealthy = "healthy"
	// StatusUnhealthy means the last probe failed; Result.Error says why.
	StatusUnhealthy = "unhealthy"
	// StatusUnknown means the dependency has not been probed yet.
	StatusUnknown = "unknown"
)

// Defaults for the Dependency fields left zero.
const (
	// DefaultInterval is the time between two probes of one dependency.
	DefaultInterval = 15 * time.Second
	// DefaultTimeout bounds one probe: connecting, authenticating and
	// the query. A server that does not answer in time is unhealthy.
	DefaultTimeout = 3 * time.Second
)

// Dependency is one service the neuron depends on, as configured: it is
// also the type of the configuration's dependencies, which the
// configuration loader checks with Kinds and CheckTarget and completes with
// its defaults, so that what it accepts Start accepts too.
type Dependency struct {
	// Name is the key in dependencyStatus, such as "postgresql".
	Name string `koanf:"name" json:"name"`
	// Kind is the protocol the probe speaks.
	Kind Kind `koanf:"kind" json:"kind"`
	// Target says where the service is, in the form its kind expects:
	//   - tcp: host:port
	//   - http: an http:// or https:// URL
	//   - postgres: a URL (postgres://user:pass@host:5432/db?sslmode=disable)
	//     or a keyword/value DSN (host=db user=app dbname=app)
	//   - redis: redis://[:password@]host:port[/db], rediss:// for TLS,
	//     or host:port
	// It may hold a password, which no error or log of this package shows.
	Target string `koanf:"target" json:"target"`
	// Interval is the time between two probes; DefaultInterval when zero.
	Interval time.Duration `koanf:"interval" json:"interval"`
	// Timeout bounds one probe; DefaultTimeout when zero.
	Timeout time.Duration `koanf:"timeout" json:"timeout"`
	// Optional marks a dependency whose failure does not make the neuron
	// unhealthy: it is still probed and reported.
	Optional bool `koanf:"optional" json:"optional"`
}

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)

// Validate reports whether d can be probed: a name of letters, digits,
// '_', '.' or '-', a known kind, a target that parses for that kind, and
// no negative durations. The error names the dependency and shows what a
// valid target looks like; it never contains a password.
func (d Dependency) Validate() error {
	if !namePattern.MatchString(d.Name) {
		return fmt.Errorf("dependency %q: name must be non-empty and use only letters, digits, '_', '.' and '-'", d.Name)
	}
	if _, ok := targetForms[d.Kind]; !ok {
		return fmt.Errorf("dependency %q: unknown kind %q: use %s", d.Name, d.Kind, KindList())
	}
	if err := CheckTarget(d.Kind, d.Target); err != nil {
		return fmt.Errorf("dependency %q: %s target %q: %w", d.Name, d.Kind, redact(d.Target), err)
	}
	if d.Interval < 0 || d.Timeout < 0 {
		return fmt.Errorf("dependency %q: interval (%s) and timeout (%s) must not be negative; leave them zero for the defaults %s and %s",
			d.Name, d.Interval, d.Timeout, DefaultInterval, DefaultTimeout)
	}
	return nil
}

// withDefaults returns d with zero durations replaced by the defaults.
func (d Dependency) withDefaults() Dependency {
	if d.Interval == 0 {
		d.Interval = DefaultInterval
	}
	if d.Timeout == 0 {
		d.Timeout = DefaultTimeout
	}
	return d
}

// Result is the outcome of one probe.
type Result struct {
	// Status is StatusHealthy, StatusUnhealthy or StatusUnknown.
	Status string `json:"status"`
	// Error says why the probe failed, with the server's own message
	// when it gave one; empty when healthy.
	Error string `json:"error,omitempty"`
	// Latency is how long the probe took, connection included.
	Latency time.Duration `json:"latency"`
	// Checked is when the probe finished; zero before the first probe.
	Checked time.Time `json:"checked"`
	// Optional is copied from the dependency.
	Optional bool `json:"optional"`
}

// Check probes d once, bounded by d.Timeout (DefaultTimeout when zero) and
// by ctx, and closes every connection it opened before returning. An
// invalid dependency is unhealthy with the validation error.
func Check(ctx context.Context, d Dependency) Result {
	d = d.withDefaults()
	start := time.Now()
	err := d.Validate()
	if err == nil {
		err = probeWithin(ctx, d)
	}
	r := Result{Status: StatusHealthy, Latency: time.Since(start), Checked: time.Now(), Optional: d.Optional}
	if err != nil {
		r.Status, r.Error = StatusUnhealthy, err.Error()
	}
	return r
}

// probeWithin runs the probe of d bounded by d.Timeout, or by ctx's
// deadline when that comes first, and says so when the time ran out.
func probeWithin(ctx context.Context, d Dependency) error {
	limit := d.Timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < limit {
		limit = time.Until(dl)
	}
	begin := time.Now()
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	err := probes[d.Kind](cctx, d.Target)
	// A read deadline taken from cctx can fire before cctx itself is
	// done, so the elapsed time decides too.
	if err != nil && ctx.Err() == nil && (cctx.Err() != nil || time.Since(begin) >= limit) {
		return fmt.Errorf("no answer within %s: %w", limit.Round(time.Millisecond), err)
	}
	return err
}
