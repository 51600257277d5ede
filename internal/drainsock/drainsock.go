// Package drainsock is the neuron's drain socket: a unix socket in the
// data directory through which `neuron drain`, run beside a neuron (a
// Kubernetes preStop hook, an operator's shell), puts it into the drain
// the federation's `drain` command starts, and waits until its calls in
// progress have finished. It owns the socket's one route and its client;
// the agent gives it what to drain (Target), and it must not know more of
// the neuron than that.
//
// A unix socket rather than a route of the HTTP server: who may drain the
// neuron is then whoever may open a file in its data directory (the
// socket is 0600), never a network peer, and a service mesh's sidecar that
// forwards outside traffic from 127.0.0.1 cannot reach it.
package drainsock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// File is the socket's name in the data directory.
const File = "neuron.sock"

// DefaultWait is how long a drain waits for calls in progress when the
// request says nothing; MaxWait bounds what it may ask.
const (
	DefaultWait = 30 * time.Second
	MaxWait     = 10 * time.Minute
)

// pollEvery is how often a drain looks at the calls in progress.
const pollEvery = 50 * time.Millisecond

// maxPathLen is the longest socket path the kernel takes (sun_path is 108
// bytes with its terminating zero on Linux).
const maxPathLen = 107

// Target is what a drain acts on: the runtime's Drain (processor
// endpoints answer 503 draining, /ready answers 503) and its count of
// calls in progress.
type Target interface {
	Drain()
	InFlight() int
}

// Result is the socket's answer: whether the neuron drained and how many
// calls were still in progress when the wait ended (0 when drained).
type Result struct {
	Draining bool `json:"draining"`
	InFlight int  `json:"inFlight"`
}

// Server serves the drain socket. Close it when the neuron stops.
type Server struct {
	path string
	ln   net.Listener
	srv  *http.Server
}

// Listen opens the drain socket in dir and serves it for t. A socket left
// by a neuron that died is replaced; one a live neuron answers on is not
// (two neurons must not share a data directory).
func Listen(dir string, t Target, log *slog.Logger) (*Server, error) {
	path := filepath.Join(dir, File)
	if len(path) > maxPathLen {
		return nil, fmt.Errorf("drain socket %s: the path has %d bytes, more than a unix socket takes (%d); use a shorter data directory", path, len(path), maxPathLen)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("drain socket %s: another neuron answers on it; give each neuron its own data directory", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("drain socket %s: remove the one left by a previous run: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("drain socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("drain socket %s: %w", path, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /drain", func(w http.ResponseWriter, r *http.Request) { drain(w, r, t, log) })
	s := &Server{path: path, ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops serving and removes the socket.
func (s *Server) Close() error {
	err := s.srv.Close()
	if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

// drain starts the drain and answers once no call is in progress, or when
// the wait the request asks for (?wait=DURATION) ends: 200 drained, 504
// with the calls still in progress.
func drain(w http.ResponseWriter, r *http.Request, t Target, log *slog.Logger) {
	wait := DefaultWait
	if s := r.URL.Query().Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > MaxWait {
			http.Error(w, fmt.Sprintf("wait %q: a duration from 0s to %s", s, MaxWait), http.StatusBadRequest)
			return
		}
		wait = d
	}
	t.Drain()
	log.Info("drain asked through the drain socket", "wait", wait, "in_flight", t.InFlight())
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	n := t.InFlight()
	for n > 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			n = t.InFlight()
		}
	}
	status := http.StatusOK
	if n > 0 {
		status = http.StatusGatewayTimeout
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Result{Draining: true, InFlight: n})
}

// Drain asks the neuron whose data directory is dir to drain, waiting up
// to wait for its calls in progress to finish. It returns the neuron's
// Result, and an error when the neuron could not be reached or did not
// drain in time.
func Drain(ctx context.Context, dir string, wait time.Duration) (Result, error) {
	path := filepath.Join(dir, File)
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://neuron/drain?"+url.Values{"wait": {wait.String()}}.Encode(), nil)
	if err != nil {
		return Result{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("reach the neuron through %s (is it running with this data directory?): %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var res Result
	switch {
	case resp.StatusCode == http.StatusOK && json.Unmarshal(body, &res) == nil:
		return res, nil
	case resp.StatusCode == http.StatusGatewayTimeout && json.Unmarshal(body, &res) == nil:
		return res, fmt.Errorf("draining, but %d calls were still in progress after %s", res.InFlight, wait)
	}
	return res, fmt.Errorf("the neuron answered %s: %s", resp.Status, body)
}
