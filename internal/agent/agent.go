// Package agent wires a neuron together: configuration, logging, metrics,
// the processor runtime, the HTTP server and the federation lifecycle,
// started in order and stopped in reverse as one internal/lifecycle Group
// (Agent.components). It owns the wiring and the small adapters between
// components (the runtime seen as the federation's Neuron, for one), not
// their work, which stays in their packages. It is the one place where the
// components are put together: no package of the neuron imports agent
// (cmd/neuron and the benchmarks do), so a component never depends on how
// the others are started, and each can be built and tested alone.
package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/auth"
	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/internal/control"
	"github.com/empirefederation/neuron/internal/devfed"
	"github.com/empirefederation/neuron/internal/drainsock"
	"github.com/empirefederation/neuron/internal/lifecycle"
	"github.com/empirefederation/neuron/internal/probe"
	"github.com/empirefederation/neuron/internal/report"
	"github.com/empirefederation/neuron/internal/sources"
	"github.com/empirefederation/neuron/internal/sysmetrics"
	"github.com/empirefederation/neuron/internal/watch"
	"github.com/empirefederation/neuron/runtime"
)

// Server timeouts: a slow or idle client cannot hold a connection forever.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	// sampleEvery is the period of the background system metrics sampler.
	sampleEvery = 10 * time.Second
	// downloadTimeout bounds load_plugin's download of a module.
	downloadTimeout = 2 * time.Minute
)

// Agent is a running neuron.
type Agent struct {
	cfg      *config.Config
	log      *slog.Logger
	level    *slog.LevelVar
	reg      *prometheus.Registry
	started  time.Time
	life     lifecycle.Group
	rt       *runtime.Runtime
	tokens   *auth.Issuer // the token endpoint: nil without auth.clients
	server   *http.Server
	listener net.Listener
	conns    atomic.Int64

	serverTLS     *tls.Config // nil: serve plain HTTP
	federationTLS *tls.Config // nil: the federation URL is not https

	events   *report.Events
	reporter *report.Reporter
	control  *control.Controller
	sampler  *sysmetrics.Sampler
	probes   *probe.Prober
	drainer  *drainsock.Server    // nil when the socket could not be opened
	watcher  *watch.Watcher       // nil when pluginsWatch is false
	embedded *devfed.HTTPServer   // nil unless FEDERATION_URL=embedded
	outbox   *link                // the link and its spool; nil when standalone
	fed      atomic.Pointer[link] // nil when standalone, and until the processors are loaded

	// sources is the store of processors pulled from OCI registries
	// (DATA/sources); missing are the declared references neither pulled
	// nor stored at start, which sourcesLoop retries.
	sources     *sources.Store
	missing     []string
	sourcesLoop *sourcesLoop
}

// components are the agent's parts in the order they start; Stop, and a
// Start that fails, stops the started ones in reverse. A new part is one
// line here, and where it goes says when it stops. The TLS files are read
// first, so that a bad one stops the start before anything listens. Read
// from the bottom up, the list is the shutdown that issue 12 settled:
//
//   - the retries and the poll of pulled processors stop first, then the
//     plugins watcher: no swap while shutting down (each ends and waits
//     for a pull or a sync in progress);
//   - the federation link's loops stop and it sends the one heartbeat that
//     says "stopping", before the phase changes and the drain starts;
//   - the HTTP server drains: the phase says "stopping" and in-flight
//     calls finish within shutdownTimeout;
//   - commands still running stop (and report it), before the final
//     report and before the runtime they act on closes;
//   - the probes and the sampler stop, the server closes what the drain
//     left, and the runtime closes, interrupting calls that outlived the
//     drain;
//   - then the link's final report is built, once no call can be answered
//     or counted any more (so it holds every call answered, those the
//     close interrupted included), appended to the spool and sent until
//     the spool is empty or the deadline; the spool closes;
//   - last, the embedded development federation, which receives the
//     stopping heartbeat and the final report.
//
// The federation link is in three places, one for each of its phases: its
// spool opens before everything it reports on and closes after, its
// "stopping" heartbeat sits between the watcher and the drain (nothing to
// start there), and its loops start last, once the processors are loaded,
// so that the first registration carries their endpoints. The watcher
// starts before the first load, so that no change made while the neuron
// starts is missed. The store of pulled processors opens before the
// controller whose load_plugin pulls into it; the declared sources are
// pulled just before the first load, so that /ready waits for them, and
// their retries and poll start once the processors are loaded. See
// docs/design.md, "Why is the final report built
// after the runtime closes?" and "Why does the agent start and stop its
// parts from one list?".
func (a *Agent) components() []lifecycle.Named {
	return []lifecycle.Named{
		lifecycle.Of("tls files", a.loadTLS, nil),
		lifecycle.Of("embedded federation", a.startEmbedded, a.stopEmbedded),
		lifecycle.Of("analytics spool", a.openSpool, a.closeSpool),
		lifecycle.Of("sources store", a.openSources, nil),
		lifecycle.Of("runtime", a.startRuntime, a.closeRuntime),
		lifecycle.Of("listener", a.listen, a.closeListener),
		lifecycle.Of("system sampler", a.startSampler, a.stopSampler),
		lifecycle.Of("dependency probes", a.startProbes, a.stopProbes),
		lifecycle.Of("controller", a.startControl, a.closeControl),
		lifecycle.Of("drain socket", a.openDrainSocket, a.closeDrainSocket),
		lifecycle.Of("http server", a.serve, a.drain),
		lifecycle.Of("federation stopping heartbeat", nil, a.beginStopLink),
		lifecycle.Of("plugins watcher", a.startWatch, a.stopWatch),
		lifecycle.Of("plugin sources", a.pullSources, nil),
		lifecycle.Of("processors", a.loadProcessors, nil),
		lifecycle.Of("plugin sources poll", a.pollSources, a.stopSources),
		lifecycle.Of("federation link", a.startLink, nil),
	}
}

// Start loads the processors, starts serving on cfg.Listen and, when
// cfg.Federation.URL is set, joins the federation in the background
// (serving never waits for it). Logs go to logOut. The caller must Stop
// the agent. If a component fails to start, those started before it stop
// (in reverse, with ctx) and Start returns the failure.
func Start(ctx context.Context, cfg *config.Config, logOut io.Writer) (*Agent, error) {
	a := &Agent{cfg: cfg, level: new(slog.LevelVar), events: &report.Events{}, reg: prometheus.NewRegistry(), started: time.Now()}
	a.level.Set(parseLevel(cfg.LogLevel))
	a.log = slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: a.level}))
	a.events.Logger = a.log
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := a.life.Start(ctx, a.components()...); err != nil {
		return nil, err
	}
	return a, nil
}

// Addr is the address the agent listens on.
func (a *Agent) Addr() net.Addr { return a.listener.Addr() }

// Runtime is the agent's processor runtime.
func (a *Agent) Runtime() *runtime.Runtime { return a.rt }

// Stop shuts the neuron down in the order the federation expects (see
// components): a "stopping" heartbeat, then no new connections while
// in-flight calls finish within ShutdownTimeout, then every processor is
// closed, then the final analytics report, with everything served since
// the last one (sent, or kept on disk for the next start).
func (a *Agent) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout)
	return a.life.Stop(ctx)
}

// Run starts a neuron and serves until ctx ends, then stops it.
func Run(ctx context.Context, cfg *config.Config, logOut io.Writer) error {
	a, err := Start(ctx, cfg, logOut)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return a.Stop()
}

// NewLogger returns the neuron's structured logger at level (debug, info,
// warn, error).
func NewLogger(w io.Writer, level string) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: parseLevel(level)}))
}

func parseLevel(level string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return l
}

// connState counts open client connections, the heartbeat's
// activeConnections.
func (a *Agent) connState(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		a.conns.Add(1)
	case http.StateClosed, http.StateHijacked:
		a.conns.Add(-1)
	}
}

// token is the bearer the federation must present to push an update: the
// one it issued at registration, "" while not registered.
func (a *Agent) token() string {
	if l := a.fed.Load(); l != nil {
		return l.Token()
	}
	return ""
}

// flush sends the analytics gathered so far now (the flush_analytics command).
func (a *Agent) flush(ctx context.Context) error {
	l := a.fed.Load()
	if l == nil {
		return errors.New("this neuron runs standalone: there is no federation to flush analytics to")
	}
	return l.Flush(ctx)
}

// runtimeEvent turns the runtime's events into analytics events (those a
// processor emitted within its share of the interval), and asks the
// federation link to re-register when the processors served change.
func (a *Agent) runtimeEvent(e runtime.Event) {
	fe := federation.Event{Type: e.Type, Timestamp: e.Time, Data: e.Data, Plugin: e.Plugin, Version: e.Version}
	if e.Guest {
		a.events.RecordProcessor(fe)
	} else {
		a.events.Record(fe)
	}
	if l := a.fed.Load(); l != nil && servingEvents[e.Type] {
		l.RegistrationChanged()
	}
}

// commands are every command the neuron runs: the built-ins and the plugin
// commands, which go through the runtime's swap path.
func commands(a *Agent) map[string]control.Command {
	cmds := control.Builtins(a.rt, a.flush)
	maps.Copy(cmds, control.PluginCommands(a.rt, a.cfg.PluginsDir,
		&control.Downloads{Timeout: downloadTimeout, Hosts: a.cfg.PluginHosts, Log: a.log}, a.sources, a.cfg.Trust))
	return cmds
}
