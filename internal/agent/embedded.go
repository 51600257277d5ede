package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/internal/devfed"
)

// DevFederation is a development federation (package devfed) serving on
// its own listener: what `neuron federation serve` runs, and what
// FEDERATION_URL=embedded starts inside a neuron.
type DevFederation struct {
	fed    *devfed.Server
	server *http.Server
	url    string
	token  string
	log    *slog.Logger
}

// StartDevFederation opens the federation's store in o.DataDir and serves
// it on ln until Stop. The caller listens, so that it can say which setting
// to change when the address is taken; ln is closed when this fails.
// o.AdminToken must be set (the caller generates one with
// devfed.GenerateToken when the user gave none).
func StartDevFederation(ln net.Listener, o devfed.Options) (*DevFederation, error) {
	if o.AdminToken == "" {
		_ = ln.Close()
		return nil, errors.New("development federation: no admin token (generate one with devfed.GenerateToken)")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	fed, err := devfed.Open(o)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("development federation in %s: %w", o.DataDir, err)
	}
	d := &DevFederation{
		fed: fed, url: config.BaseURLFor(ln.Addr().String()), token: o.AdminToken, log: o.Logger,
		server: &http.Server{
			Handler:           fed.Handler(),
			ReadHeaderTimeout: readHeaderTimeout,
			IdleTimeout:       idleTimeout,
			ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		},
	}
	go func() {
		if err := d.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("development federation: http server stopped", "err", err)
		}
	}()
	return d, nil
}

// URL is the federation's base URL, http://host:port, for FEDERATION_URL.
func (d *DevFederation) URL() string { return d.url }

// Dashboard is the dashboard's address with the admin token in its
// fragment, http://host:port/#token=TOKEN: the dashboard takes the token
// from there (the fragment never reaches the server or its logs). The
// token is escaped the way the dashboard's decodeURIComponent reads it.
func (d *DevFederation) Dashboard() string {
	return d.url + "/#token=" + strings.ReplaceAll(url.QueryEscape(d.token), "+", "%20")
}

// Stop stops accepting connections, lets requests in flight finish within
// ctx, then closes the federation (background work, pushes, the store).
func (d *DevFederation) Stop(ctx context.Context) error {
	err := d.server.Shutdown(ctx)
	if err != nil {
		_ = d.server.Close()
	}
	return errors.Join(err, d.fed.Close())
}

// startEmbedded starts the development federation of FEDERATION_URL=embedded:
// on federation.listen, with its data in DataDir/federation, the neuron's
// heartbeat interval as the liveness period, and the admin token
// configured or generated.
func startEmbedded(a *Agent) (*DevFederation, error) {
	f := a.cfg.Federation
	token := f.AdminToken
	if token == "" {
		token = devfed.GenerateToken()
	}
	ln, err := net.Listen("tcp", f.Listen)
	if err != nil {
		return nil, fmt.Errorf("FEDERATION_URL=embedded: the development federation cannot listen on %s: %w (set FEDERATION_LISTEN or --federation-listen to a free host:port, or stop what holds it)", f.Listen, err)
	}
	dir := filepath.Join(a.cfg.DataDir, "federation")
	d, err := StartDevFederation(ln, devfed.Options{
		DataDir: dir, AdminToken: token, HeartbeatInterval: f.HeartbeatInterval, Logger: a.log.With("component", "devfed"),
	})
	if err != nil {
		return nil, fmt.Errorf("FEDERATION_URL=embedded: %w", err)
	}
	a.log.Info("development federation serving in this process", "url", d.URL(), "dashboard", d.Dashboard(),
		"data", dir, "admin_token_generated", f.AdminToken == "")
	return d, nil
}

// Dashboard is the embedded development federation's dashboard address
// (see DevFederation.Dashboard), or "" unless FEDERATION_URL is embedded.
func (a *Agent) Dashboard() string {
	if l := a.fed.Load(); l != nil && l.embedded != nil {
		return l.embedded.Dashboard()
	}
	return ""
}
