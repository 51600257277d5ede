// Package agent wires a neuron together: configuration, logging, metrics,
// the processor runtime and the HTTP server. It is the only package that
// imports all the others.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/internal/serve"
	"github.com/empirefederation/neuron/runtime"
)

// Server timeouts: a slow or idle client cannot hold a connection forever.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
)

// Agent is a running neuron.
type Agent struct {
	cfg      *config.Config
	log      *slog.Logger
	rt       *runtime.Runtime
	server   *http.Server
	listener net.Listener
}

// Start loads the processors and starts serving on cfg.Listen. Logs go to
// logOut. The caller must Stop the agent.
func Start(ctx context.Context, cfg *config.Config, logOut io.Writer) (*Agent, error) {
	log := NewLogger(logOut, cfg.LogLevel)
	started := time.Now()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rt, err := runtime.New(ctx, runtime.Options{
		PluginsDir: cfg.PluginsDir, DataDir: cfg.DataDir, Limits: cfg.Limits, PluginLimits: cfg.PluginLimits,
		Settings: cfg.Settings, Plugins: cfg.Plugins, AllowPermissions: cfg.AllowPermissions,
		Logger: log, Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: log, rt: rt}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("listen on %s: %w (set NEURON_LISTEN or --listen to a free address)", cfg.Listen, err)
	}
	a.listener = ln
	a.server = &http.Server{
		Handler:           serve.Handler(rt, reg, started),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := a.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	log.Info("neuron listening", "addr", ln.Addr().String(), "id", cfg.ID, "plugins_dir", cfg.PluginsDir)
	if err := rt.LoadDir(ctx); err != nil {
		log.Error("plugins directory not readable; serving no processors until the neuron is restarted with a readable one", "err", err)
	}
	return a, nil
}

// Addr is the address the agent listens on.
func (a *Agent) Addr() net.Addr { return a.listener.Addr() }

// Runtime is the agent's processor runtime.
func (a *Agent) Runtime() *runtime.Runtime { return a.rt }

// Stop stops accepting connections, lets in-flight calls finish within
// ShutdownTimeout, then closes every processor.
func (a *Agent) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout)
	err := a.server.Shutdown(ctx)
	if err != nil {
		a.log.Warn("in-flight requests did not finish in time", "err", err)
	}
	return errors.Join(err, a.rt.Close(ctx))
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
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
