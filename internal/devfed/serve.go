package devfed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/empirefederation/neuron/internal/config"
)

// Timeouts of the federation's HTTP server: a slow client cannot hold a
// connection open forever.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
)

// HTTPServer is a development federation serving on its own listener:
// what `neuron federation serve` runs, and what FEDERATION_URL=embedded
// starts inside a neuron.
type HTTPServer struct {
	fed    *Server
	server *http.Server
	url    string
	token  string
	log    *slog.Logger
}

// Serve opens the federation's store in o.DataDir and serves it on ln
// until Stop. The caller listens, so that it can say which setting
// to change when the address is taken; ln is closed when this fails.
// Without o.AdminToken, the one kept in o.DataDir serves (see Options).
func Serve(ln net.Listener, o Options) (*HTTPServer, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	fed, err := Open(o)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("development federation in %s: %w", o.DataDir, err)
	}
	d := &HTTPServer{
		fed: fed, url: config.BaseURLFor(ln.Addr().String()), token: fed.opts.AdminToken, log: o.Logger,
		server: &http.Server{
			Handler:           fed.Handler(),
			ReadHeaderTimeout: readHeaderTimeout,
			IdleTimeout:       idleTimeout,
			ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		},
	}
	if tcp, isTCP := ln.Addr().(*net.TCPAddr); isTCP && !tcp.IP.IsLoopback() {
		o.Logger.Warn("the development federation listens beyond loopback: whoever reaches "+ln.Addr().String()+
			" can register neurons, and with the admin token command them, over plain HTTP; "+
			"keep it on 127.0.0.1 unless you mean to share it, and then behind TLS", "listen", ln.Addr().String())
	}
	go func() {
		if err := d.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("development federation: http server stopped", "err", err)
		}
	}()
	return d, nil
}

// URL is the federation's base URL, http://host:port, for FEDERATION_URL.
func (d *HTTPServer) URL() string { return d.url }

// Dashboard is the dashboard's address with the admin token in its
// fragment, http://host:port/#token=TOKEN: the dashboard takes the token
// from there (the fragment never reaches the server or its logs). The
// token is escaped the way the dashboard's decodeURIComponent reads it.
func (d *HTTPServer) Dashboard() string {
	return d.url + "/#token=" + strings.ReplaceAll(url.QueryEscape(d.token), "+", "%20")
}

// Stop stops accepting connections, lets requests in flight finish within
// ctx, then closes the federation (background work, pushes, the store).
func (d *HTTPServer) Stop(ctx context.Context) error {
	err := d.server.Shutdown(ctx)
	if err != nil {
		_ = d.server.Close()
	}
	return errors.Join(err, d.fed.Close())
}
