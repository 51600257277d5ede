package runtime_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// acceptFiles is the plugins directory of the accept processor: a
// hand-written module answering 200 "ok" to anything at /accept.
func acceptFiles(t *testing.T) map[string][]byte {
	return map[string][]byte{
		"accept.wasm": testutil.Wat(t, "testdata/accept.wat"),
		"accept.json": []byte(`{"name":"accept","version":"1.0.0","endpoints":[` +
			`{"method":"POST","path":"/accept"},{"method":"GET","path":"/accept"}]}`),
	}
}

// rawPost opens a connection to e and sends the head of a POST to
// /accept declaring length body bytes, then the first sent of them. The
// connection closes when the test ends.
func (e *env) rawPost(length, sent int) net.Conn {
	e.t.Helper()
	return e.rawPostTo("/accept", length, sent)
}

// rawPostTo is rawPost to path.
func (e *env) rawPostTo(path string, length, sent int) net.Conn {
	e.t.Helper()
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: neuron\r\nContent-Length: %d\r\n\r\n", path, length)
	go func() { // the server may refuse to read it: never block the test on it
		_, _ = c.Write(append([]byte(head), make([]byte, sent)...))
	}()
	return c
}

// readReply reads the response on c, waiting at most waitLimit, and
// reports whether the server closed the connection after it.
func readReply(t *testing.T, c net.Conn) (reply, bool) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitLimit))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response within %v: %v", waitLimit, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read the response body: %v", err)
	}
	_, err = br.ReadByte()
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, err == io.EOF
}

// TestBodyBudget: clients holding large bodies half-sent take the budget
// of request bodies; past it, a request with a body is refused 503 with
// Retry-After before its body is read, while requests that fit (no body,
// a small one) are served, and the host's heap stays near the budget.
// Once the clients leave, the budget is whole again.
func TestBodyBudget(t *testing.T) {
	const (
		size    = 1 << 20
		holders = 4
		budget  = holders*size + 256<<10 // the holders, and room for small bodies
	)
	e := startEnv(t, runtime.Options{RequestBodyBudget: budget}, acceptFiles(t))
	held := func() float64 { return e.mustMetric("neuron_request_body_bytes") }
	heap := func() uint64 {
		var m goruntime.MemStats
		goruntime.GC()
		goruntime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	base := heap()

	var holding []net.Conn
	for i := range holders {
		holding = append(holding, e.rawPost(size, size-1)) // one byte short: held until its call ends
		testutil.Eventually(t, waitLimit, "the body budget holds each body sent", func() bool {
			return held() == float64((i+1)*size)
		})
	}
	// Many more clients, each declaring and sending a whole large body:
	// each is refused before its body is read, and its connection closed.
	for range 4 * holders {
		r, closed := readReply(t, e.rawPost(size, size))
		if r.status != http.StatusServiceUnavailable || r.apiError(t).Code != runtime.CodeBodyBudget {
			t.Fatalf("over the budget: status %d body %s, want 503 %s", r.status, r.body, runtime.CodeBodyBudget)
		}
		if r.header.Get("Retry-After") == "" || !closed {
			t.Fatalf("over the budget: Retry-After %q, connection closed %v: want both", r.header.Get("Retry-After"), closed)
		}
	}
	if got := held(); got != holders*size {
		t.Fatalf("body bytes held %v after the refusals, want %v", got, holders*size)
	}
	if r := e.get("/accept"); r.status != http.StatusOK {
		t.Fatalf("GET without a body while the budget is full: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodPost, "/accept", strings.NewReader("small body")); r.status != http.StatusOK {
		t.Fatalf("small body that fits the budget: %d %s", r.status, r.body)
	}
	// The bodies held are the whole of what the clients made the host
	// keep: a fraction of the refused bytes, 4 times the budget.
	if grown := int64(heap()) - int64(base); grown > 2*budget {
		t.Errorf("heap grew by %d bytes with %d bytes of bodies held, want at most %d", grown, holders*size, 2*budget)
	}

	for _, c := range holding {
		c.Close()
	}
	testutil.Eventually(t, waitLimit, "the clients that left give their budget back", func() bool { return held() == 0 })
	if r := e.do(http.MethodPost, "/accept", bytes.NewReader(make([]byte, size))); r.status != http.StatusOK {
		t.Fatalf("a large body once the budget is free: %d %s", r.status, r.body)
	}
	// A chunked body is reserved step by step, and released too.
	if r := e.do(http.MethodPost, "/accept", io.MultiReader(bytes.NewReader(make([]byte, size)))); r.status != http.StatusOK {
		t.Fatalf("a large chunked body: %d %s", r.status, r.body)
	}
	testutil.Eventually(t, waitLimit, "the budget is whole after the calls", func() bool { return held() == 0 })
}

// TestBodyTimeout: a body that stalls past Options.RequestBodyTimeout is
// answered 408 body_timeout and its connection closed; the rest of it,
// sent later, is never served.
func TestBodyTimeout(t *testing.T) {
	e := startEnv(t, runtime.Options{RequestBodyTimeout: time.Second}, acceptFiles(t))
	c := e.rawPost(100, 10)
	r, closed := readReply(t, c)
	if r.status != http.StatusRequestTimeout || r.apiError(t).Code != runtime.CodeBodyTimeout || !closed {
		t.Fatalf("stalled body: status %d body %s, connection closed %v; want 408 %s, closed", r.status, r.body, closed, runtime.CodeBodyTimeout)
	}
	_, _ = c.Write(make([]byte, 90)) // the rest, too late: nothing reads it
	if r := e.get("/accept"); r.status != http.StatusOK {
		t.Fatalf("GET after the timeout: %d %s", r.status, r.body)
	}
	served, _ := e.metric("neuron_requests_total", "plugin", "accept", "method", "POST", "status", "200")
	timedOut := e.mustMetric("neuron_request_errors_total", "plugin", "accept", "code", runtime.CodeBodyTimeout)
	if served != 0 || timedOut != 1 || e.mustMetric("neuron_request_body_bytes") != 0 {
		t.Fatalf("POSTs served %v, body timeouts %v, body bytes held %v: want 0, 1, 0", served, timedOut, e.mustMetric("neuron_request_body_bytes"))
	}
	var logged []string
	for _, rec := range e.logs.find("processor call failed", "code", runtime.CodeBodyTimeout) {
		b, _ := json.Marshal(rec)
		logged = append(logged, string(b))
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "requestBodyTimeout") {
		t.Fatalf("log of the timeout %q: want one line naming requestBodyTimeout", logged)
	}
}

// TestBodyClientLeaves: once a body is read, the read deadline is gone and
// the server watches the connection: a client that leaves while its call
// waits for an instance is answered 499 at once, not when an instance
// frees, and its share of the budget comes back.
func TestBodyClientLeaves(t *testing.T) {
	files := acceptFiles(t)
	files["accept.json"] = []byte(`{"name":"accept","version":"1.0.0","limits":{"callTimeout":"5m","poolMin":1,"poolMax":1},"endpoints":[` +
		`{"method":"POST","path":"/accept"},{"method":"POST","path":"/spin","export":"spin"}]}`)
	e := startEnv(t, runtime.Options{}, files)
	e.rawPostTo("/spin", 1, 1) // takes the only instance, for good
	testutil.Eventually(t, waitLimit, "the spinning call runs", func() bool {
		return e.mustMetric("neuron_pool_instances", "plugin", "accept", "state", "busy") == 1
	})
	c := e.rawPost(100, 100)
	testutil.Eventually(t, waitLimit, "the second call waits for the instance", func() bool {
		return e.mustMetric("neuron_pool_waiting", "plugin", "accept") == 1
	})
	c.Close()
	testutil.Eventually(t, waitLimit, "the waiting call ends as its client left", func() bool {
		n, _ := e.metric("neuron_requests_total", "plugin", "accept", "status", "499")
		return n == 1
	})
	if held := e.mustMetric("neuron_request_body_bytes"); held != 1 { // the spinning call's byte
		t.Fatalf("body bytes held %v after the call, want 1", held)
	}
	if n, err := e.rt.RestartWorkers(context.Background(), "accept", false); n != 1 || err != nil {
		t.Fatalf("RestartWorkers(accept) = %d, %v: the spinning call must end", n, err)
	}
}

// A chunked body over its limit is refused half read, and the connection
// is closed after the 413: the refusal left it a read deadline in the
// past, which would cancel every later request on it as it arrived.
func TestBodyTooLargeClosesConnection(t *testing.T) {
	e := startEnv(t, runtime.Options{PluginLimits: map[string]runtime.Limits{"accept": {MaxBodyBytes: 1024}}}, acceptFiles(t))
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := strings.Repeat("x", 2048)
	req := fmt.Sprintf("POST /accept HTTP/1.1\r\nHost: neuron\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"+
		"GET /accept HTTP/1.1\r\nHost: neuron\r\n\r\n", len(body), body)
	go func() { _, _ = c.Write([]byte(req)) }() // the server may stop reading: never block the test on it
	r, closed := readReply(t, c)
	if r.status != http.StatusRequestEntityTooLarge || !closed {
		t.Errorf("chunked body over the limit: status %d, connection closed %v; want 413 and closed", r.status, closed)
	}
}
