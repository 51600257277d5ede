package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/control"
	"github.com/empirefederation/neuron/internal/drainsock"
	"github.com/empirefederation/neuron/internal/probe"
	"github.com/empirefederation/neuron/internal/report"
	"github.com/empirefederation/neuron/internal/serve"
	"github.com/empirefederation/neuron/internal/sysmetrics"
	"github.com/empirefederation/neuron/runtime"
)

// The starts and stops of the agent's components, in the order of
// components. The federation's are in federation.go, the watcher's in
// watch.go.

func (a *Agent) startRuntime(ctx context.Context) error {
	opts := RuntimeOptions(a.cfg)
	opts.Logger, opts.Registerer, opts.Events = a.log, a.reg, a.runtimeEvent
	var err error
	// The JWKS is fetched until the agent stops, not until Start returns.
	if opts.Callers, a.tokens, err = callers(context.WithoutCancel(ctx), a.cfg); err != nil {
		return err
	}
	a.rt, err = runtime.New(ctx, opts)
	return err
}

// closeRuntime closes every processor, interrupting the calls that
// outlived the drain.
func (a *Agent) closeRuntime(ctx context.Context) error { return a.rt.Close(ctx) }

func (a *Agent) listen(context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (set NEURON_LISTEN or --listen to a free address)", a.cfg.Listen, err)
	}
	a.listener = ln
	return nil
}

// closeListener closes the connections the drain left (none after a
// drain that finished), or the listener when the server never started.
func (a *Agent) closeListener(context.Context) error {
	if a.server != nil {
		_ = a.server.Close() // after Shutdown: nothing left to close
		return nil
	}
	_ = a.listener.Close()
	return nil
}

func (a *Agent) startSampler(ctx context.Context) error {
	a.sampler = sysmetrics.Start(context.WithoutCancel(ctx), sampleEvery, a.cfg.DataDir)
	return nil
}

func (a *Agent) stopSampler(context.Context) error {
	a.sampler.Stop()
	return nil
}

func (a *Agent) startProbes(ctx context.Context) error {
	var err error
	a.probes, err = probe.Start(context.WithoutCancel(ctx), a.cfg.Dependencies, a.log)
	return err
}

func (a *Agent) stopProbes(context.Context) error {
	a.probes.Stop()
	return nil
}

func (a *Agent) startControl(ctx context.Context) error {
	cfg := a.cfg
	var err error
	a.control, err = control.New(ctx, control.Options{
		DataDir: cfg.DataDir, Settings: cfg.Settings, Plugins: cfg.Plugins, Pinned: cfg.PinnedSettings, CallTimeout: cfg.Limits.CallTimeout,
		RateLimits: RateLimits(cfg), Runtime: a.rt, Level: a.level, BaseLevel: parseLevel(cfg.LogLevel),
		Commands: commands(a), Events: a.events.Record, Logger: a.log,
		Guardrails: federation.Guardrails{ErrorRate: cfg.Federation.AlertThresholds.ErrorRate, ResponseTime: cfg.Federation.AlertThresholds.ResponseTime},
	})
	return err
}

// closeControl stops the commands still running (they report it), before
// the final report and before the runtime they act on closes.
func (a *Agent) closeControl(ctx context.Context) error { return a.control.Close(ctx) }

// serve builds the reporter and the HTTP server and serves on the
// listener in the background.
func (a *Agent) serve(context.Context) error {
	cfg, host := a.cfg, sysmetrics.Host()
	a.reporter = report.New(report.Options{
		Registration: registration(cfg, a.listener.Addr(), host), Host: hostInfo(host),
		BuildVersion: cfg.BuildVersion, Started: a.started,
		Runtime: a.rt, System: a.system, Dependencies: a.dependencies,
		Connections: func() int { return int(a.conns.Load()) }, ConfigVersion: a.control.Version, Events: a.events, Draining: a.rt.Draining,
		Sources: a.runningSources,
	})
	var tokens http.Handler // a nil *auth.Issuer must stay a nil Handler
	if a.tokens != nil {
		tokens = a.tokens
	}
	a.server = &http.Server{
		Handler: serve.Handler(a.rt, a.reg, serve.Options{
			Started: a.started, Dependencies: a.health,
			Draining: func() bool { return a.reporter.Phase() != "" || a.rt.Draining() },
			Update:   a.control.Handler(a.token),
			Token:    tokens,
			// With client CAs, the update route needs a verified client
			// certificate besides the bearer.
			UpdateClientCert: a.cfg.TLS.ClientCA != "",
		}),
		TLSConfig:         a.serverTLS,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		ConnState:         a.connState,
	}
	go func() {
		var err error
		if a.serverTLS != nil {
			err = a.server.ServeTLS(a.listener, "", "") // the certificate is TLSConfig's
		} else {
			err = a.server.Serve(a.listener)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server stopped", "err", err)
		}
	}()
	a.log.Info("neuron listening", "addr", a.listener.Addr().String(), "tls", a.serverTLS != nil, "id", cfg.ID, "plugins_dir", cfg.PluginsDir,
		"federation", cmp.Or(cfg.Federation.URL, "none (standalone)"))
	return nil
}

// drain says "stopping" (the federation heard it from the link just
// before) and takes no new connections while in-flight calls finish,
// within ctx.
func (a *Agent) drain(ctx context.Context) error {
	a.reporter.SetPhase(federation.StatusStopping)
	err := a.server.Shutdown(ctx)
	if err != nil {
		a.log.Warn("in-flight requests did not finish in time", "err", err)
	}
	return err
}

// openDrainSocket opens DATA/neuron.sock, through which `neuron drain`
// drains the neuron (a Kubernetes preStop hook). A neuron that cannot open
// it serves all the same and says why: only that command will not reach
// it.
func (a *Agent) openDrainSocket(context.Context) error {
	s, err := drainsock.Listen(a.cfg.DataDir, a.rt, a.log)
	if err != nil {
		a.log.Warn("no drain socket: `neuron drain` cannot reach this neuron", "err", err)
		return nil
	}
	a.drainer = s
	return nil
}

// closeDrainSocket closes the drain socket and removes its file.
func (a *Agent) closeDrainSocket(context.Context) error {
	if a.drainer == nil {
		return nil
	}
	return a.drainer.Close()
}

// loadProcessors loads the plugins directory and resumes the experiment
// running at the last stop. A signal interrupts the load (the runtime
// abandons it); Run then stops the neuron.
func (a *Agent) loadProcessors(ctx context.Context) error {
	if err := a.rt.LoadDir(ctx); err != nil && ctx.Err() == nil {
		a.log.Error("plugins directory not readable; serving no processors until it is (with pluginsWatch, the neuron loads them once it is; otherwise restart it)", "err", err)
	}
	a.control.ResumeExperiment(ctx)
	return nil
}
