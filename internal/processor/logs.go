package processor

import (
	"log/slog"
	"time"

	"golang.org/x/time/rate"

	"github.com/empirefederation/neuron/internal/ratelog"
)

// Rates of the lines a processor version can make the neuron log, so that
// a processor failing or logging in a loop cannot flood the log (or the
// disk behind it). Past them, lines are dropped and counted, and the next
// line written carries suppressed=N; metrics still count every failure.
// Constants, not configuration: they bound log volume, which nobody tunes
// per processor, and a debugging operator reads metrics, not 20,000 lines.
// See docs/design.md, "What can a processor make the host spend?".
const (
	// failLogRate and failLogBurst bound the "processor call failed" lines
	// of one processor version: a burst shows what broke, then one a
	// second.
	failLogRate  = rate.Limit(1)
	failLogBurst = 10
	// guestLogRate and guestLogBurst bound the lines a processor version
	// writes through the log host function, all its instances together:
	// a line per request is fine up to a modest rate.
	guestLogRate  = rate.Limit(50)
	guestLogBurst = 100
	// capLogEvery is how often a processor at a cap of its custom metrics
	// or event types is warned about: once an analytics interval, at its
	// default.
	capLogEvery = time.Minute
)

// limitLogs gives p its rate-limited loggers, once p.Log names it.
func (p *Version) limitLogs() {
	p.FailLog = slog.New(ratelog.New(p.Log.Handler(), failLogRate, failLogBurst))
	p.guestLog = slog.New(ratelog.New(p.Log.Handler(), guestLogRate, guestLogBurst))
	p.metricCapLog = slog.New(ratelog.New(p.Log.Handler(), rate.Every(capLogEvery), 1))
	p.eventCapLog = slog.New(ratelog.New(p.Log.Handler(), rate.Every(capLogEvery), 1))
}
