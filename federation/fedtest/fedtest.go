// Package fedtest runs a real federation on loopback for tests: it
// implements the federation's endpoints, issues tokens, checks bearers,
// records every request, and can be steered to go down, fail, throttle,
// answer slowly or refuse tokens.
//
//	fed := fedtest.New(t)
//	c := federation.NewClient(fed.URL(), nil, "test")
//	fed.FailNext(federation.PathAnalytics, 503, 2)
//
// Payloads are decoded strictly (unknown fields are a 400), so a test that
// passes against it sends exactly the reference guide's fields. It is for
// tests only and shares no code with the development federation
// (internal/devfed), which it must not import: it stands for the contract,
// not for devfed's behaviour.
package fedtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
)

const (
	// maxBody bounds what the server reads of a request body.
	maxBody = 16 << 20
	// downGrace is how long Down lets requests in progress finish.
	downGrace = time.Second
)

// Request is one request the server received, whatever it answered.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   json.RawMessage // as received (may be invalid JSON)
	Time   time.Time       // when it arrived
	Status int             // what the server answered
}

// Server is a recording federation on 127.0.0.1. Its methods are safe for
// concurrent use. New registers its Close with the test's cleanup.
type Server struct {
	tb   testing.TB
	addr string // host:port, kept across Down and Up

	mu      sync.Mutex
	srv     *http.Server // nil while down
	served  chan struct{}
	tokens  map[string]string // token → neuronId
	latest  map[string]string // neuronId → its latest token
	issued  int
	stale   bool // refuse tokens superseded by a re-registration
	unauth  int  // 401s left to answer to authenticated calls
	failN   map[string][]failure
	fail    map[string]int
	retry   time.Duration
	slow    map[string]time.Duration
	config  json.RawMessage
	reqs    []Request
	regs    []federation.Registration
	beats   []federation.Status
	reports []federation.AnalyticsReport
}

type failure struct{ status, left int }

// New starts a federation on a free loopback port and stops it when the test
// ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("fedtest: listen on loopback: %v", err)
	}
	s := &Server{
		tb: tb, addr: ln.Addr().String(),
		tokens: map[string]string{}, latest: map[string]string{},
		failN: map[string][]failure{}, fail: map[string]int{}, slow: map[string]time.Duration{},
	}
	s.serve(ln)
	tb.Cleanup(s.Close)
	return s
}

// URL returns the federation's base URL, the same across Down and Up.
func (s *Server) URL() string { return "http://" + s.addr }

// Close stops the server for good.
func (s *Server) Close() { s.Down() }

// Down stops the server: new connections are refused until Up. Requests
// in progress get their answer first (for up to downGrace; then their
// connections are cut), so that "the federation took it" and "the client
// saw it taken" never disagree and exact counts hold.
func (s *Server) Down() {
	s.mu.Lock()
	srv, served := s.srv, s.served
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), downGrace)
	defer cancel()
	if srv.Shutdown(ctx) != nil {
		_ = srv.Close()
	}
	<-served
}

// Up starts the server again on the same port after Down.
func (s *Server) Up() {
	s.tb.Helper()
	s.mu.Lock()
	up := s.srv != nil
	s.mu.Unlock()
	if up {
		return
	}
	var ln net.Listener
	var err error
	for range 100 { // the port may take a moment to be free again
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		s.tb.Fatalf("fedtest: listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

func (s *Server) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	s.mu.Lock()
	s.srv, s.served = srv, served
	s.mu.Unlock()
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.tb.Errorf("fedtest: serve: %v", err)
		}
	}()
}

// handle records the request, applies the steering, checks the bearer and
// routes.
func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return // the client went away
	}
	i := s.record(r, body)
	status, answer, injected := s.answer(r, body)
	s.mu.Lock()
	s.reqs[i].Status = status
	retry := s.retry
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if retry > 0 && injected {
		w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(answer)
}

func (s *Server) record(r *http.Request, body []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, Request{
		Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(),
		Body: bytes.Clone(body), Time: time.Now(),
	})
	return len(s.reqs) - 1
}

// answer decides the status and body of the answer to r, and whether the
// status is an injected failure.
func (s *Server) answer(r *http.Request, body []byte) (int, any, bool) {
	if d := s.slowFor(r.URL.Path); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return http.StatusServiceUnavailable, failed("the federation is shutting down"), false
		}
	}
	if status := s.injected(r.URL.Path); status != 0 {
		return status, failed(fmt.Sprintf("injected failure %d on %s", status, r.URL.Path)), true
	}
	status, answer := s.route(r, body)
	return status, answer, false
}

// route checks the method and bearer and runs the endpoint.
func (s *Server) route(r *http.Request, body []byte) (int, any) {
	route, ok := routes[r.URL.Path]
	switch {
	case !ok:
		return http.StatusNotFound, failed("no such endpoint: " + r.URL.Path)
	case r.Method != route.method:
		return http.StatusMethodNotAllowed, failed(r.URL.Path + " takes " + route.method)
	}
	if route.auth {
		if msg := s.authorize(r.Header.Get("Authorization")); msg != "" {
			return http.StatusUnauthorized, failed(msg)
		}
	}
	return route.handle(s, body)
}

// route is one federation endpoint.
type route struct {
	method string
	auth   bool
	handle func(s *Server, body []byte) (int, any)
}

var routes = map[string]route{
	federation.PathRegister:  {http.MethodPost, false, (*Server).register},
	federation.PathStatus:    {http.MethodPost, true, (*Server).status},
	federation.PathAnalytics: {http.MethodPost, true, (*Server).analytics},
	federation.PathConfig:    {http.MethodGet, true, (*Server).getConfig},
}

func (s *Server) register(body []byte) (int, any) {
	var reg federation.Registration
	if err := strict(body, &reg); err != nil {
		return http.StatusBadRequest, failed("registration: " + err.Error())
	}
	if reg.NeuronID == "" {
		return http.StatusBadRequest, failed("registration: neuronId is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issued++
	token := tokenName(s.issued)
	s.tokens[token] = reg.NeuronID
	s.latest[reg.NeuronID] = token
	s.regs = append(s.regs, reg)
	return http.StatusCreated, ok(map[string]string{"token": token, "neuronId": reg.NeuronID})
}

func (s *Server) status(body []byte) (int, any) {
	var st federation.Status
	if err := strict(body, &st); err != nil {
		return http.StatusBadRequest, failed("status: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beats = append(s.beats, st)
	return http.StatusOK, ok(map[string]bool{"received": true})
}

func (s *Server) analytics(body []byte) (int, any) {
	var rep federation.AnalyticsReport
	if err := strict(body, &rep); err != nil {
		return http.StatusBadRequest, failed("analytics: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports = append(s.reports, rep)
	return http.StatusOK, ok(map[string]bool{"received": true})
}

func (s *Server) getConfig([]byte) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return http.StatusOK, ok(s.config)
}

// authorize checks a bearer and returns why it is refused, or "".
func (s *Server) authorize(header string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unauth > 0 {
		s.unauth--
		return "token refused (fedtest Unauthorized)"
	}
	token, found := bytes.CutPrefix([]byte(header), []byte("Bearer "))
	neuron, known := s.tokens[string(token)]
	switch {
	case !found:
		return "missing bearer token"
	case !known:
		return "unknown token"
	case s.stale && s.latest[neuron] != string(token):
		return "stale token: the neuron registered again since"
	}
	return ""
}

func (s *Server) slowFor(path string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.slow[path]
}

// injected returns the status of an injected failure for path, or 0.
func (s *Server) injected(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.failN[path]; len(q) > 0 {
		status := q[0].status
		if q[0].left--; q[0].left <= 0 {
			s.failN[path] = q[1:]
		}
		return status
	}
	return s.fail[path]
}

// strict decodes one JSON value into v, refusing unknown fields.
func strict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// tokenName is the n-th token issued, counting from 1.
func tokenName(n int) string { return "tok-" + strconv.Itoa(n) }

func ok(data any) any { return map[string]any{"success": true, "data": data} }

func failed(msg string) any { return map[string]any{"success": false, "error": msg} }
