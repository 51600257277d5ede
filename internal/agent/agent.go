// Package agent wires a neuron together: configuration, logging, metrics,
// the processor runtime, the HTTP server and the federation lifecycle. It
// is the only package that imports all the others.
package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
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
	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/internal/control"
	"github.com/empirefederation/neuron/internal/probe"
	"github.com/empirefederation/neuron/internal/report"
	"github.com/empirefederation/neuron/internal/serve"
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
	rt       *runtime.Runtime
	server   *http.Server
	listener net.Listener
	conns    atomic.Int64

	events   *report.Events
	reporter *report.Reporter
	control  *control.Controller
	sampler  *sysmetrics.Sampler
	probes   *probe.Prober
	watcher  *watch.Watcher       // nil when pluginsWatch is false
	fed      atomic.Pointer[link] // nil when standalone, and until the processors are loaded
}

// Start loads the processors, starts serving on cfg.Listen and, when
// cfg.Federation.URL is set, joins the federation in the background
// (serving never waits for it). Logs go to logOut. The caller must Stop
// the agent.
func Start(ctx context.Context, cfg *config.Config, logOut io.Writer) (*Agent, error) {
	a := &Agent{cfg: cfg, level: new(slog.LevelVar), events: &report.Events{}}
	a.level.Set(parseLevel(cfg.LogLevel))
	a.log = slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: a.level}))
	a.events.Logger = a.log
	started := time.Now()
	ok := false
	defer func() {
		if !ok {
			_ = a.closeAll(ctx)
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var err error
	opts := RuntimeOptions(cfg)
	opts.Logger, opts.Registerer, opts.Events = a.log, reg, a.runtimeEvent
	a.rt, err = runtime.New(ctx, opts)
	if err != nil {
		return nil, err
	}
	a.sampler = sysmetrics.Start(context.WithoutCancel(ctx), sampleEvery, cfg.DataDir)
	if a.probes, err = probe.Start(context.WithoutCancel(ctx), cfg.Dependencies, a.log); err != nil {
		return nil, err
	}
	if a.control, err = control.New(ctx, control.Options{
		DataDir: cfg.DataDir, Settings: cfg.Settings, Plugins: cfg.Plugins, Pinned: cfg.PinnedSettings, CallTimeout: cfg.Limits.CallTimeout,
		Runtime: a.rt, Level: a.level, BaseLevel: parseLevel(cfg.LogLevel),
		Commands: commands(a), Events: a.events.Record, Logger: a.log,
		Guardrails: federation.Guardrails{ErrorRate: cfg.Federation.AlertThresholds.ErrorRate, ResponseTime: cfg.Federation.AlertThresholds.ResponseTime},
	}); err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (set NEURON_LISTEN or --listen to a free address)", cfg.Listen, err)
	}
	a.listener = ln
	host := sysmetrics.Host()
	a.reporter = report.New(report.Options{
		Registration: registration(cfg, ln.Addr(), host), Host: hostInfo(host),
		BuildVersion: cfg.BuildVersion, Started: started,
		Runtime: a.rt, System: a.system, Dependencies: a.dependencies,
		Connections: func() int { return int(a.conns.Load()) }, ConfigVersion: a.control.Version, Events: a.events, Draining: a.rt.Draining,
	})
	a.server = &http.Server{
		Handler: serve.Handler(a.rt, reg, serve.Options{
			Started: started, Dependencies: a.health,
			Draining: func() bool { return a.reporter.Phase() != "" || a.rt.Draining() },
			Update:   a.control.Handler(a.token),
		}),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		ConnState:         a.connState,
	}
	go func() {
		if err := a.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server stopped", "err", err)
		}
	}()
	a.log.Info("neuron listening", "addr", ln.Addr().String(), "id", cfg.ID, "plugins_dir", cfg.PluginsDir,
		"federation", cmp.Or(cfg.Federation.URL, "none (standalone)"))
	if err := a.startWatch(ctx); err != nil {
		return nil, err
	}
	// A signal interrupts the load (the runtime abandons it); Run then
	// stops the neuron.
	if err := a.rt.LoadDir(ctx); err != nil && ctx.Err() == nil {
		a.log.Error("plugins directory not readable; serving no processors until it is (with pluginsWatch, the neuron loads them once it is; otherwise restart it)", "err", err)
	}
	a.control.ResumeExperiment(ctx)
	// The link starts once the processors are loaded, so the first
	// registration carries their endpoints; serving never waits for it.
	if cfg.Federation.URL != "" {
		l, err := startLink(ctx, a, reg)
		if err != nil {
			return nil, err
		}
		a.fed.Store(l)
	}
	ok = true
	return a, nil
}

// Addr is the address the agent listens on.
func (a *Agent) Addr() net.Addr { return a.listener.Addr() }

// Runtime is the agent's processor runtime.
func (a *Agent) Runtime() *runtime.Runtime { return a.rt }

// Stop shuts the neuron down in the order the federation expects: a
// "stopping" heartbeat, then no new connections while in-flight calls
// finish within ShutdownTimeout, then every processor is closed, then the
// final analytics report, with everything served since the last one
// (sent, or kept on disk for the next start).
func (a *Agent) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout)
	// No swap while shutting down. First, as it may wait for a sync in
	// progress.
	a.stopWatch()
	// The link's loops stop before the phase changes, so the one heartbeat
	// that says "stopping" is BeginStop's, sent before the drain.
	if l := a.fed.Load(); l != nil {
		l.BeginStop(ctx)
	}
	a.reporter.SetPhase(federation.StatusStopping)
	err := a.server.Shutdown(ctx)
	if err != nil {
		a.log.Warn("in-flight requests did not finish in time", "err", err)
	}
	return errors.Join(err, a.closeAll(ctx))
}

// closeAll frees everything, then stops the federation link: its final
// report is built once no call can be answered or counted any more, so it
// holds everything served, calls that outlived the shutdown timeout
// included (the runtime interrupts them as it closes).
func (a *Agent) closeAll(ctx context.Context) error {
	a.stopWatch() // before the runtime closes: no Sync of a closed runtime
	var errs []error
	if a.control != nil {
		// Commands still running stop (and report it) before the final
		// report and before the runtime they act on closes.
		errs = append(errs, a.control.Close(ctx))
	}
	if a.probes != nil {
		a.probes.Stop()
	}
	if a.sampler != nil {
		a.sampler.Stop()
	}
	switch {
	case a.server != nil:
		_ = a.server.Close() // after Shutdown: nothing left to close
	case a.listener != nil:
		_ = a.listener.Close()
	}
	if a.rt != nil {
		errs = append(errs, a.rt.Close(ctx))
	}
	if l := a.fed.Load(); l != nil {
		errs = append(errs, l.Stop(ctx))
	}
	return errors.Join(errs...)
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
	maps.Copy(cmds, control.PluginCommands(a.rt, a.cfg.PluginsDir, &http.Client{Timeout: downloadTimeout}))
	return cmds
}
