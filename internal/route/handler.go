package route

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/empirefederation/neuron/internal/guest"
	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/pool"
	"github.com/empirefederation/neuron/internal/processor"
	"github.com/empirefederation/neuron/sdk/abi"
)

// endpoint serves one declared route of one processor version.
type endpoint struct {
	p *processor.Version
	// srv is the server whose request state the call reads: draining,
	// the current snapshot, the body budget, the run-time configuration.
	srv    *Server
	route  abi.Endpoint
	vars   []string // path variable names in route order
	fn     int      // index into instance.handlers
	plugin []string // X-Neuron-Plugin value: NAME@VERSION
	// headers are the request headers forwarded to the guest: its
	// version's, without Authorization when the server verifies tokens
	// (a processor sees who calls, never the token).
	headers []string
	metrics *endpointMetrics
	// split, when not nil, is the experiment splitting this endpoint's
	// calls between variants; see handleSplit.
	split *splitRoute
}

// HeaderPlugin names the processor version that served a response.
const HeaderPlugin = "X-Neuron-Plugin"

// buffers holds request and response buffers between calls, so that a
// steady load allocates none.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// maxPooledBuffer keeps one huge request from pinning its buffer forever.
const maxPooledBuffer = 1 << 20

// ServeHTTP serves r routed by mux, which put the path variables in its
// context.
func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.handle(w, r, mux.Vars(r)) }

// exchange is what one request moved: the status answered and the body
// bytes read and written.
type exchange struct{ status, in, out int }

// handle serves r with the path variables vars.
//
// The call counts in its processor's inflight before it looks at
// retiring: a swap sets retiring before it waits for inflight to reach
// zero, so either the swap sees this call and waits for it, or this call
// sees retiring and goes to the snapshot that replaced its processor's. No
// call is dropped and no lock is taken. See docs/design.md, "How does a
// swap drain the old version?".
//
// The caller is admitted first (see admit), then its rate limit checked,
// by who it is (see CallerKey), before the body is read or a variant
// chosen: a refused call costs no more than its answer.
func (e *endpoint) handle(w http.ResponseWriter, r *http.Request, vars map[string]string) {
	who, ok := e.admit(w, r)
	if !ok {
		return
	}
	if e.limited(w, r, who.subject) {
		return
	}
	if e.split != nil {
		e.handleSplit(w, r, vars, who.json)
		return
	}
	e.run(w, r, vars, nil, who.json)
}

// run serves r with the path variables vars, the call seeing configuration
// cfg (nil for its processor's own) and caller (JSON, nil for none: see
// admit). It returns the status answered, or 0
// when no processor of this snapshot ran it (draining, or it went to a
// newer snapshot, which counted it).
func (e *endpoint) run(w http.ResponseWriter, r *http.Request, vars map[string]string, cfg, caller []byte) int {
	p := e.p
	if e.srv.Draining.Load() {
		serveDraining(w, e.metrics)
		return 0 // no processor ran: not a call of the variant
	}
	p.Inflight.Add(1)
	if p.Retiring.Load() {
		p.Inflight.Add(-1)
		e.srv.Current.Load().ServeHTTP(w, r)
		return 0
	}
	defer p.Inflight.Add(-1) // after observe: a drained version's series are deleted at close
	start := time.Now()
	w.Header()[HeaderPlugin] = e.plugin // shared, never modified
	inBuf, outBuf := buffers.Get().(*[]byte), buffers.Get().(*[]byte)
	defer putBuffer(inBuf)
	defer putBuffer(outBuf)
	held := heldBody{budget: &e.srv.bodies}
	defer held.release() // the body is in inBuf until the call ends
	x, cerr := e.serve(w, r, vars, cfg, caller, inBuf, outBuf, &held, start)
	if cerr != nil {
		x.status, x.out = cerr.Status, e.fail(w, r, cerr)
	}
	e.metrics.observe(x, time.Since(start))
	return x.status
}

func putBuffer(b *[]byte) {
	if cap(*b) <= maxPooledBuffer {
		*b = (*b)[:0]
		buffers.Put(b)
	}
}

// serve runs one call and writes its response. It returns what it wrote,
// or the error to answer with and the body bytes it read.
func (e *endpoint) serve(w http.ResponseWriter, r *http.Request, vars map[string]string, cfg, caller []byte, inBuf, outBuf *[]byte,
	held *heldBody, start time.Time) (exchange, *guest.CallError) {
	p := e.p
	var x exchange
	msg, cerr := e.encode(w, r, vars, *inBuf, &x.in, held, start)
	*inBuf = msg
	if cerr != nil {
		return x, cerr
	}
	timeout := e.srv.Dyn.Load().CallTimeout(p.Limits)
	in, err := p.Checkout(r.Context(), timeout)
	if err != nil {
		if p.Retiring.Load() && errors.Is(err, pool.ErrClosed) {
			return x, guest.UnloadedError(p.ID())
		}
		return x, poolError(err, p.ID())
	}
	in.SetCallConfig(cfg)
	in.SetCallCaller(caller)
	resp, cerr := in.Call(e.fn, msg, timeout, p.Limits.MaxResponseBytes, *outBuf)
	in.SetCallConfig(nil)
	in.SetCallCaller(nil)
	p.Checkin(in, cerr)
	if cerr != nil {
		return x, cerr
	}
	*outBuf = resp.Body
	h := w.Header()
	for _, kv := range resp.Header {
		if validHeader(kv.Name, kv.Value) {
			h.Add(kv.Name, kv.Value)
		}
	}
	w.WriteHeader(resp.Status)
	x.status = resp.Status
	x.out, _ = w.Write(resp.Body)
	return x, nil
}

// encode reads the request body and encodes the request into buf: the head
// first, the body read straight behind it, so the body is copied once from
// the network and once into guest memory. See docs/design.md, "Why a
// binary encoding, not JSON?". It sets *bodyLen to the body's length once
// the whole body is read. The body is
// reserved from the runtime's budget into held, and must arrive within
// the server's body timeout of start.
func (e *endpoint) encode(w http.ResponseWriter, r *http.Request, vars map[string]string, buf []byte, bodyLen *int,
	held *heldBody, start time.Time) ([]byte, *guest.CallError) {
	srv := e.srv
	limit := min(e.p.Limits.MaxBodyBytes, srv.bodies.max)
	if r.ContentLength > limit {
		return buf, bodyTooLarge(limit)
	}
	// The endpoint's method: a HEAD on a GET route is the GET to the guest.
	req := abi.Request{Method: e.route.Method, Path: r.URL.Path, Route: e.route.Path, RawQuery: r.URL.RawQuery}
	if len(e.vars) > 0 {
		req.Vars = make([]abi.Pair, len(e.vars))
		for i, name := range e.vars {
			req.Vars[i] = abi.Pair{Name: name, Value: vars[name]}
		}
	}
	for _, name := range e.headers {
		for _, v := range r.Header[name] {
			req.Header = append(req.Header, abi.Pair{Name: name, Value: v})
		}
	}
	head := req.HeadSize()
	buf = append(buf[:0], make([]byte, head)...)
	body, err := buf, error(nil)
	if r.Body != nil && r.Body != http.NoBody {
		body, err = held.readBody(w, r, buf, limit, start.Add(srv.bodyTimeout))
	}
	if err != nil {
		return buf, bodyError(err, limit, srv.bodies.max, srv.bodyTimeout)
	}
	*bodyLen = len(body) - head
	req.EncodeHead(body, *bodyLen)
	return body, nil
}

// fail logs a failed call once, within its processor's rate
// (processor.Version.FailLog), and answers it. It returns the bytes of the
// error body written.
func (e *endpoint) fail(w http.ResponseWriter, r *http.Request, cerr *guest.CallError) int {
	if cerr.Code != CodeClientClosed {
		e.metrics.errors.WithLabelValues(cerr.Code).Inc()
	}
	level := errorLevel(cerr)
	e.p.FailLog.Log(r.Context(), level, "processor call failed", "method", r.Method, "path", r.URL.Path,
		"code", cerr.Code, "status", cerr.Status, "err", cerr.Error())
	if cerr.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	if closesConnection(cerr) {
		w.Header().Set("Connection", "close")
	}
	return writeError(w, cerr.Status, cerr.Code, cerr.Msg)
}

// errorLevel is how loudly a failure is logged: a guest fault is an error,
// load shedding and departed clients are routine.
func errorLevel(cerr *guest.CallError) slog.Level {
	switch cerr.Code {
	case CodeClientClosed, CodeBodyTooLarge, CodeBadRequest, CodeBodyTimeout, CodeUnauthorized, CodeForbidden:
		return slog.LevelDebug
	case CodeOverloaded, CodeBodyBudget, CodeUnavailable, guest.CodeWorkerRestarted, guest.CodeUnloaded, CodeDraining:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// WriteError writes the neuron's JSON error body: {"error": msg, "code": code}.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	writeError(w, status, code, msg)
}

// writeError is WriteError returning the body bytes written, for Traffic.
// The body is what json.Encoder would write: HTML-escaped, newline-ended.
func writeError(w http.ResponseWriter, status int, code, msg string) int {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}{msg, code}) // two strings: cannot fail
	n, _ := w.Write(append(b, '\n'))
	return n
}

// validHeader refuses header names and values a guest could use to split
// the response or break its framing: a name that is not a token, the
// framing headers the server sets from the body written, and a value with
// a control character other than tab (RFC 9110, section 5.5).
func validHeader(name, value string) bool {
	if !modfile.IsToken(name) || strings.EqualFold(name, "Content-Length") || strings.EqualFold(name, "Transfer-Encoding") {
		return false
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// serveDraining answers a processor call while the neuron drains. It is
// counted in neuron_request_errors_total with code draining, and not in
// Traffic: no processor ran.
func serveDraining(w http.ResponseWriter, m *endpointMetrics) {
	m.errors.WithLabelValues(CodeDraining).Inc()
	w.Header().Set("Retry-After", drainRetryAfter)
	writeError(w, http.StatusServiceUnavailable, CodeDraining,
		"this neuron is draining and takes no processor calls; retry later or on another neuron")
}
