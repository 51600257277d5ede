package runtime_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/limits"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
	"github.com/empirefederation/neuron/sdk/abi"
)

func TestLimits(t *testing.T) {
	const maxResponse, maxBody = 64 << 10, 32 << 10
	e := startEnv(t, runtime.Options{PluginLimits: map[string]runtime.Limits{
		"loop": {CallTimeout: 300 * time.Millisecond},
		"grow": {MemoryPages: 512},
		"echo": {MaxResponseBytes: maxResponse, MaxBodyBytes: maxBody},
	}}, guests(t, "echo", "loop", "grow", "trap", "badptr"))

	// The most /t/echo/size/{n} can answer: the encoded response, status
	// and header included, must fit in maxResponse.
	overhead := len(abi.AppendResponse(nil, &abi.Response{Status: 200, Header: []abi.Pair{{Name: "Content-Type", Value: "text/plain"}}}))
	largest := maxResponse - overhead

	tests := []struct {
		name     string
		plugin   string
		method   string
		target   string
		body     func() io.Reader
		status   int
		code     string
		msg      string // in the error message
		discards bool   // the instance is replaced
		then     string // a request to the same processor that must then succeed
	}{
		{
			name: "infinite loop", plugin: "loop", method: "GET", target: "/t/loop/spin",
			status: http.StatusGatewayTimeout, code: runtime.CodeTimeout, msg: "timed out", discards: true, then: "/t/loop/ok",
		},
		{
			name: "memory growth", plugin: "grow", method: "GET", target: "/t/grow/hog",
			status: http.StatusInternalServerError, code: runtime.CodeMemoryLimit, msg: "memoryPages", discards: true, then: "/t/grow/ok",
		},
		{
			name: "response one byte too large", plugin: "echo", method: "GET", target: "/t/echo/size/" + strconv.Itoa(largest+1),
			status: http.StatusBadGateway, code: runtime.CodeResponseTooLarge, msg: "exceeds the limit of 65536", then: "/t/echo/1",
		},
		{
			name: "body too large", plugin: "echo", method: "POST", target: "/t/echo/1",
			body:   func() io.Reader { return bytes.NewReader(make([]byte, maxBody+1)) },
			status: http.StatusRequestEntityTooLarge, code: runtime.CodeBodyTooLarge, msg: "exceeds the limit of 32768 bytes", then: "/t/echo/1",
		},
		{
			name: "chunked body too large", plugin: "echo", method: "POST", target: "/t/echo/1",
			body:   func() io.Reader { return opaque{bytes.NewReader(make([]byte, maxBody+1))} },
			status: http.StatusRequestEntityTooLarge, code: runtime.CodeBodyTooLarge, msg: "exceeds the limit of 32768 bytes", then: "/t/echo/1",
		},
		{
			name: "guest panic", plugin: "trap", method: "GET", target: "/t/trap/panic",
			status: http.StatusInternalServerError, code: runtime.CodeTrap, msg: "panic: boom: deliberate panic", discards: true, then: "/t/trap/ok",
		},
		{
			name: "response pointer outside memory", plugin: "badptr", method: "GET", target: "/t/badptr/ptr",
			status: http.StatusBadGateway, code: runtime.CodeABIViolation, msg: "outside guest memory", discards: true, then: "/t/badptr/ok",
		},
		{
			// The length is checked against the limit before the range
			// against memory, so this is "too large", and the instance,
			// which broke nothing, is kept.
			name: "response length past memory", plugin: "badptr", method: "GET", target: "/t/badptr/len",
			status: http.StatusBadGateway, code: runtime.CodeResponseTooLarge, msg: "response of 2147483647 bytes", then: "/t/badptr/ok",
		},
		{
			name: "malformed response", plugin: "badptr", method: "GET", target: "/t/badptr/garbage",
			status: http.StatusBadGateway, code: runtime.CodeABIViolation, msg: "not a valid ABI v1 response: abi: malformed response: field headers at offset 4: count 4294967295 is above the most a message may hold, 1024", discards: true, then: "/t/badptr/ok",
		},
	}
	for _, tc := range tests {
		e.run(t, tc.name, func(t *testing.T, e *env) {
			discarded := e.mustMetric("neuron_pool_instances_discarded_total", "plugin", tc.plugin)
			errs, _ := e.metric("neuron_request_errors_total", "plugin", tc.plugin, "code", tc.code)
			var body io.Reader
			if tc.body != nil {
				body = tc.body()
			}
			r := e.do(tc.method, tc.target, body)
			if r.status != tc.status {
				t.Fatalf("status %d body %.300s; want %d", r.status, r.body, tc.status)
			}
			got := r.apiError(t)
			if got.Code != tc.code || !strings.Contains(got.Error, tc.msg) {
				t.Errorf("error %+v; want code %q and a message with %q", got, tc.code, tc.msg)
			}
			if p := r.header.Get(runtime.HeaderPlugin); p != tc.plugin+"@1.0.0" {
				t.Errorf("%s = %q, want %s@1.0.0", runtime.HeaderPlugin, p, tc.plugin)
			}
			if ra := r.header.Get("Retry-After"); ra != "" {
				t.Errorf("Retry-After %q on a %d", ra, r.status)
			}
			if n, _ := e.metric("neuron_request_errors_total", "plugin", tc.plugin, "code", tc.code); n != errs+1 {
				t.Errorf("neuron_request_errors_total{code=%q} went from %v to %v, want +1", tc.code, errs, n)
			}
			want := discarded
			if tc.discards {
				want++
			}
			if got := e.mustMetric("neuron_pool_instances_discarded_total", "plugin", tc.plugin); got != want {
				t.Errorf("neuron_pool_instances_discarded_total{plugin=%q} went from %v to %v, want %v", tc.plugin, discarded, got, want)
			}
			if r := e.get(tc.then); r.status != http.StatusOK {
				t.Errorf("%s after the failure: status %d body %.300s", tc.then, r.status, r.body)
			}
			if st := e.processor(tc.plugin).Pool; st.Busy != 0 || st.Idle < 1 {
				t.Errorf("pool of %s after recovering: %+v; want one idle instance at least and none busy", tc.plugin, st)
			}
		})
	}

	e.run(t, "largest response", func(t *testing.T, e *env) {
		r := e.get("/t/echo/size/" + strconv.Itoa(largest))
		if r.status != http.StatusOK || len(r.body) != largest {
			t.Fatalf("status %d, %d bytes; want 200 and %d bytes", r.status, len(r.body), largest)
		}
	})
	e.run(t, "largest body", func(t *testing.T, e *env) {
		for _, body := range []io.Reader{bytes.NewReader(make([]byte, maxBody)), opaque{bytes.NewReader(make([]byte, maxBody))}} {
			if got := decodeEcho(t, e.do("POST", "/t/echo/1", body)); got.BodyLen != maxBody {
				t.Errorf("%T body: guest saw %d bytes, want %d", body, got.BodyLen, maxBody)
			}
		}
	})
	e.run(t, "effective limits", func(t *testing.T, e *env) {
		want := map[string]runtime.Limits{
			"loop": limits.Default().Override(runtime.Limits{CallTimeout: 300 * time.Millisecond}),
			"grow": limits.Default().Override(runtime.Limits{MemoryPages: 512}),
			"echo": limits.Default().Override(runtime.Limits{MaxResponseBytes: maxResponse, MaxBodyBytes: maxBody}),
			"trap": limits.Default(),
		}
		for name, l := range want {
			if got := e.processor(name).Limits; got != l {
				t.Errorf("%s: Limits = %+v, want %+v", name, got, l)
			}
		}
	})
}

// Limits come from the defaults, then Options.Limits, then the manifest,
// then Options.PluginLimits; each level is honoured, not just reported.
func TestLimits_Overrides(t *testing.T) {
	sidecarWith := func(name, limits string) string {
		return `{"name":"` + name + `","version":"1.0.0","endpoints":[{"method":"GET","path":"/t/` + name + `/ok"}],"limits":` + limits + `}`
	}
	files := guests(t, "echo")
	files["manifested.wasm"] = guest(t, "nomanifest")
	files["manifested.json"] = []byte(sidecarWith("manifested", `{"callTimeout":"750ms","poolMax":3,"poolQueue":7,"maxBodyBytes":1000}`))
	files["badlimits.wasm"] = guest(t, "nomanifest")
	files["badlimits.json"] = []byte(sidecarWith("badlimits", `{"poolMin":5,"poolMax":2}`))

	e := startEnv(t, runtime.Options{
		Limits: runtime.Limits{CallTimeout: 5 * time.Second, PoolMax: 4},
		PluginLimits: map[string]runtime.Limits{
			"manifested": {PoolMax: 2},
			"echo":       {MaxBodyBytes: 10},
		},
	}, files)

	want := map[string]runtime.Limits{
		"echo": limits.Default().Override(runtime.Limits{CallTimeout: 5 * time.Second, PoolMax: 4, MaxBodyBytes: 10}),
		"manifested": limits.Default().Override(runtime.Limits{CallTimeout: 750 * time.Millisecond, PoolMax: 2,
			PoolQueue: 7, MaxBodyBytes: 1000}),
	}
	for name, l := range want {
		if got := e.processor(name).Limits; got != l {
			t.Errorf("%s: Limits = %+v, want %+v", name, got, l)
		}
	}

	bodies := []struct {
		target string
		size   int
		status int
	}{
		{"/t/manifested/ok", 1000, http.StatusOK},
		{"/t/manifested/ok", 1001, http.StatusRequestEntityTooLarge},
		{"/t/echo/1", 10, http.StatusOK},
		{"/t/echo/1", 11, http.StatusRequestEntityTooLarge},
	}
	for _, b := range bodies {
		method := "GET"
		if strings.HasPrefix(b.target, "/t/echo") {
			method = "POST"
		}
		if r := e.do(method, b.target, bytes.NewReader(make([]byte, b.size))); r.status != b.status {
			t.Errorf("%s %s with %d bytes: status %d, want %d", method, b.target, b.size, r.status, b.status)
		}
	}

	refused := e.events.ofType(runtime.EventPluginRejected)
	if len(refused) != 1 || !strings.Contains(eventData(t, refused[0])["reason"], "limits: pool min 5, max 2") {
		t.Errorf("refused %+v, want badlimits for its pool limits", refused)
	}
}

func TestNew_Errors(t *testing.T) {
	tests := []struct {
		name        string
		limits      runtime.Limits
		expectedErr string
	}{
		{"pool min above max", runtime.Limits{PoolMin: 9, PoolMax: 2}, "pool min 9, max 2"},
		{"too many pages", runtime.Limits{MemoryPages: 65537}, "memoryPages 65537: must be 1..65536"},
		{"negative body limit", runtime.Limits{MaxBodyBytes: -1}, "maxBodyBytes and maxResponseBytes must be positive"},
		{"call timeout too long", runtime.Limits{CallTimeout: 2 * time.Hour}, "callTimeout 2h0m0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := runtime.New(context.Background(), runtime.Options{Limits: tc.limits, CacheDir: cacheDir, DataDir: t.TempDir()})
			if err == nil {
				_ = rt.Close(context.Background())
				t.Fatal("New succeeded")
			}
			if !strings.HasPrefix(err.Error(), "limits: ") || !strings.Contains(err.Error(), tc.expectedErr) {
				t.Errorf("error %q, want limits: ...%s", err, tc.expectedErr)
			}
		})
	}
}

// A processor whose instances are all busy and whose queue is full answers
// 503 at once, while other processors keep answering.
func TestLimits_Overloaded(t *testing.T) {
	const callTimeout = 1500 * time.Millisecond
	e := startEnv(t, runtime.Options{PluginLimits: map[string]runtime.Limits{
		"loop": {PoolMin: 1, PoolMax: 1, PoolQueue: 1, CallTimeout: callTimeout},
	}}, guests(t, "echo", "loop"))

	spin := func() <-chan reply {
		ch := make(chan reply, 1)
		go func() {
			r, err := e.send(context.Background(), "GET", "/t/loop/spin", nil)
			if err != nil {
				r.status, r.body = -1, []byte(err.Error())
			}
			ch <- r
		}()
		return ch
	}
	first := spin()
	testutil.Eventually(t, waitLimit, "the first spin to hold the only instance", func() bool { return e.processor("loop").Pool.Busy == 1 })

	// Other processors are not held up.
	if got := decodeEcho(t, e.get("/t/echo/1")); got.Path != "/t/echo/1" {
		t.Errorf("echo answered %+v", got)
	}

	second := spin()
	testutil.Eventually(t, waitLimit, "the second spin to wait", func() bool { return e.processor("loop").Pool.Waiting == 1 })

	r := e.get("/t/loop/ok")
	select {
	case <-first:
		t.Fatal("the overloaded request was answered only after the first spin ended")
	default:
	}
	if r.status != http.StatusServiceUnavailable || r.apiError(t).Code != runtime.CodeOverloaded {
		t.Fatalf("third request: status %d body %s; want 503 overloaded", r.status, r.body)
	}
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	if got := r.header.Get(runtime.HeaderPlugin); got != "loop@1.0.0" {
		t.Errorf("%s = %q", runtime.HeaderPlugin, got)
	}

	if r := <-first; r.status != http.StatusGatewayTimeout {
		t.Errorf("first spin: status %d body %s; want 504", r.status, r.body)
	}
	// The second got the replacement instance too late to finish, or none
	// within its own timeout.
	switch r := <-second; {
	case r.status == http.StatusGatewayTimeout:
	case r.status == http.StatusServiceUnavailable && strings.Contains(string(r.body), runtime.CodeOverloaded):
	default:
		t.Errorf("second spin: status %d body %s; want 504, or 503 overloaded", r.status, r.body)
	}
	if r := e.get("/t/loop/ok"); r.status != http.StatusOK {
		t.Errorf("/t/loop/ok afterwards: status %d", r.status)
	}
	if st := e.processor("loop").Pool; st.Busy != 0 || st.Waiting != 0 || st.Idle != 1 {
		t.Errorf("pool afterwards: %+v", st)
	}
	if got := e.mustMetric("neuron_request_errors_total", "plugin", "loop", "code", runtime.CodeOverloaded); got < 1 {
		t.Errorf("neuron_request_errors_total{code=overloaded} = %v", got)
	}
	if got := len(e.logs.find("processor call failed", "plugin", "loop", "code", runtime.CodeOverloaded, "level", "WARN")); got < 1 {
		t.Errorf("no warning logged for the overloaded call")
	}
}

// Go cannot preempt compiled guest code: with as many spinning guests as
// CPUs, or a garbage collection stopping the world while one spins, only
// the runtime's deadline mechanism can stop them, and if it needs a Go
// goroutine to run it never does and the process hangs. Every call must
// still end at its deadline.
func TestLimits_MoreInfiniteLoopsThanCPUs(t *testing.T) {
	n := goruntime.GOMAXPROCS(0) + 2
	// Every instance is made at load: a new instance's _initialize shares
	// the call timeout and would starve among spinning guests.
	e := startEnv(t, runtime.Options{PluginLimits: map[string]runtime.Limits{
		"loop": {PoolMin: n, PoolMax: n, CallTimeout: 500 * time.Millisecond},
	}}, guests(t, "loop"))
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := e.send(context.Background(), "GET", "/t/loop/spin", nil)
			if err != nil || r.status != http.StatusGatewayTimeout {
				t.Errorf("spin %d: %v %d %s; want 504", i, err, r.status, r.body)
			}
		})
	}
	testutil.Eventually(t, waitLimit, "the spins to hold their instances", func() bool { return e.processor("loop").Pool.Busy > 0 })
	goruntime.GC() // stops the world while guests spin
	wg.Wait()
	if r := e.get("/t/loop/ok"); r.status != http.StatusOK {
		t.Errorf("/t/loop/ok afterwards: %d", r.status)
	}
	if st := e.processor("loop").Pool; st.Busy != 0 || st.Discarded != uint64(n) {
		t.Errorf("pool afterwards %+v; want none busy and %d discarded", st, n)
	}
}
