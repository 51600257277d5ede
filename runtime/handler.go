package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/empirefederation/neuron/sdk/abi"
)

// endpoint serves one declared route of one processor version.
type endpoint struct {
	p       *processor
	route   abi.Endpoint
	vars    []string // path variable names in route order
	fn      int      // index into instance.handlers
	plugin  []string // X-Neuron-Plugin value: NAME@VERSION
	metrics *endpointMetrics
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

// handle serves r with the path variables vars.
func (e *endpoint) handle(w http.ResponseWriter, r *http.Request, vars map[string]string) {
	start := time.Now()
	w.Header()[HeaderPlugin] = e.plugin // shared, never modified
	inBuf, outBuf := buffers.Get().(*[]byte), buffers.Get().(*[]byte)
	defer putBuffer(inBuf)
	defer putBuffer(outBuf)
	status, cerr := e.serve(w, r, vars, inBuf, outBuf)
	if cerr != nil {
		status = cerr.Status
		e.fail(w, r, cerr)
	}
	e.metrics.observe(status, time.Since(start).Seconds())
}

func putBuffer(b *[]byte) {
	if cap(*b) <= maxPooledBuffer {
		*b = (*b)[:0]
		buffers.Put(b)
	}
}

// serve runs one call and writes its response. It returns the status
// written, or the error to answer with.
func (e *endpoint) serve(w http.ResponseWriter, r *http.Request, vars map[string]string, inBuf, outBuf *[]byte) (int, *CallError) {
	p := e.p
	msg, cerr := e.encode(r, vars, *inBuf)
	*inBuf = msg
	if cerr != nil {
		return 0, cerr
	}
	in, err := p.pool.Get(r.Context())
	if err != nil {
		return 0, poolError(err, p.id())
	}
	resp, cerr := in.call(e.fn, msg, p.limits.CallTimeout, p.limits.MaxResponseBytes, *outBuf)
	if in.reusable(cerr) {
		p.pool.Put(in)
	} else {
		p.pool.Discard(in)
	}
	if cerr != nil {
		return 0, cerr
	}
	*outBuf = resp.Body
	h := w.Header()
	for _, kv := range resp.Header {
		if validHeader(kv.Name, kv.Value) {
			h.Add(kv.Name, kv.Value)
		}
	}
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
	return resp.Status, nil
}

// encode reads the request body and encodes the request into buf: the head
// first, the body read straight behind it, so the body is copied once from
// the network and once into guest memory. See docs/design.md.
func (e *endpoint) encode(r *http.Request, vars map[string]string, buf []byte) ([]byte, *CallError) {
	limit := e.p.limits.MaxBodyBytes
	if r.ContentLength > limit {
		return buf, bodyTooLarge(limit)
	}
	req := abi.Request{Method: r.Method, Path: r.URL.Path, Route: e.route.Path, RawQuery: r.URL.RawQuery}
	if len(e.vars) > 0 {
		req.Vars = make([]abi.Pair, len(e.vars))
		for i, name := range e.vars {
			req.Vars[i] = abi.Pair{Name: name, Value: vars[name]}
		}
	}
	for _, name := range e.p.headers {
		for _, v := range r.Header[name] {
			req.Header = append(req.Header, abi.Pair{Name: name, Value: v})
		}
	}
	head := req.HeadSize()
	buf = append(buf[:0], make([]byte, head)...)
	body, err := buf, error(nil)
	if r.Body != nil && r.Body != http.NoBody {
		body, err = readBody(r.Body, buf, limit)
	}
	if err != nil {
		if errors.Is(err, errBodyTooLarge) {
			return buf, bodyTooLarge(limit)
		}
		return buf, &CallError{Status: http.StatusBadRequest, Code: CodeBadRequest, Msg: "could not read the request body", Err: err}
	}
	req.EncodeHead(body, len(body)-head)
	return body, nil
}

var errBodyTooLarge = errors.New("body too large")

// readBody appends r to buf, failing once it holds more than limit bytes.
func readBody(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	start := len(buf)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)-start) > limit {
			return buf, errBodyTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func bodyTooLarge(limit int64) *CallError {
	return &CallError{Status: http.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge,
		Msg: fmt.Sprintf("request body exceeds the limit of %d bytes", limit)}
}

// fail logs a failed call once and answers it.
func (e *endpoint) fail(w http.ResponseWriter, r *http.Request, cerr *CallError) {
	if cerr.Code != CodeClientClosed {
		e.metrics.errors.WithLabelValues(cerr.Code).Inc()
	}
	level := errorLevel(cerr)
	e.p.log.Log(r.Context(), level, "processor call failed", "method", r.Method, "path", r.URL.Path,
		"code", cerr.Code, "status", cerr.Status, "err", cerr.Error())
	if cerr.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	WriteError(w, cerr.Status, cerr.Code, cerr.Msg)
}

// tokenChars are the bytes allowed in a header name (RFC 9110, section 5.6.2).
var tokenChars = func() (t [256]bool) {
	for _, c := range []byte("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
		t[c] = true
	}
	return t
}()

// isToken reports whether s is a valid header name.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !tokenChars[s[i]] {
			return false
		}
	}
	return s != ""
}

// errorLevel is how loudly a failure is logged: a guest fault is an error,
// load shedding and departed clients are routine.
func errorLevel(cerr *CallError) slog.Level {
	switch cerr.Code {
	case CodeClientClosed, CodeBodyTooLarge, CodeBadRequest:
		return slog.LevelDebug
	case CodeOverloaded, CodeUnavailable:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// WriteError writes the neuron's JSON error body: {"error": msg, "code": code}.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}{msg, code})
}

// validHeader refuses header names and values a guest could use to split
// the response or break its framing: a name that is not a token, the
// framing headers the server sets from the body written, and a value with
// a control character other than tab (RFC 9110, section 5.5).
func validHeader(name, value string) bool {
	if !isToken(name) || strings.EqualFold(name, "Content-Length") || strings.EqualFold(name, "Transfer-Encoding") {
		return false
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
