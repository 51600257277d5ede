package runtime_test

import (
	"context"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/runtime"
)

// from returns a copy of e whose client connects from loopback address ip
// (127.0.0.0/8 is all loopback on Linux), a caller of its own.
func (e *env) from(ip string) *env {
	c := *e
	tr := e.client.Transport.(*http.Transport).Clone()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr.DialContext = d.DialContext
	e.t.Cleanup(tr.CloseIdleConnections)
	c.client = &http.Client{Transport: tr, Timeout: waitLimit}
	return &c
}

// TestRateLimit: a caller sending at twice its rate for 3 s is served what
// the token bucket allows, the rest answered 429 rate_limited with
// Retry-After and the RateLimit headers, before the guest is called;
// another caller is not affected; a processor's limit, set at run time,
// holds across callers; the refusals are counted in /metrics and Traffic.
func TestRateLimit(t *testing.T) {
	const rps, burst = 20, 5
	e := startEnv(t, runtime.Options{RateLimits: runtime.RateLimits{Caller: rps, CallerBurst: burst}},
		watPlugin(t, "ok", "ok", "", "handle"))

	// 40 requests a second, paced by a ticker, for 3 s; a loaded machine
	// sends fewer, and the bounds below are computed from the requests
	// actually sent.
	var sent []time.Time
	accepted, refused := 0, 0
	tick := time.NewTicker(time.Second / (2 * rps))
	defer tick.Stop()
	start := time.Now()
	for i := 0; i < 6*rps && time.Since(start) < 3*time.Second; i++ {
		<-tick.C
		sent = append(sent, time.Now())
		r := e.get("/w/ok/handle")
		switch r.status {
		case http.StatusOK:
			accepted++
		case http.StatusTooManyRequests:
			refused++
			checkRefusal(t, r, burst, "too many requests from this client")
		default:
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	elapsed := time.Since(start).Seconds()
	// What a bucket of burst tokens refilled at rps allows of the requests
	// at the times they were sent.
	allowed, tokens := 0, float64(burst)
	for i, at := range sent {
		if i > 0 {
			tokens = min(burst, tokens+at.Sub(sent[i-1]).Seconds()*rps)
		}
		if tokens >= 1 {
			tokens--
			allowed++
		}
	}
	t.Logf("%d requests in %.2fs: %d accepted, %d refused; the bucket allows %d of them", len(sent), elapsed, accepted, refused, allowed)
	if most := int(rps*elapsed) + burst + 1; accepted > most {
		t.Errorf("%d accepted, more than rate × elapsed + burst + 1 = %d", accepted, most)
	}
	if least := int(math.Floor(0.95 * float64(allowed))); accepted < least {
		t.Errorf("%d accepted, less than 95%% of the %d the bucket allows", accepted, allowed)
	}
	if refused == 0 {
		t.Error("no request refused at twice the rate")
	}

	// Another caller has a bucket of its own, full.
	other := e.from("127.0.0.2")
	for range burst {
		if r := other.get("/w/ok/handle"); r.status != http.StatusOK {
			t.Fatalf("another caller: status %d %s", r.status, r.body)
		}
	}

	// 429s are counted, and no guest ran them: the processor's own count
	// of calls is the accepted ones (plus the other caller's).
	if got := e.mustMetric("neuron_rate_limited_total", "plugin", "ok", "scope", "caller"); got < float64(refused) {
		t.Errorf("neuron_rate_limited_total{scope=caller} = %v, want at least %d", got, refused)
	}
	if got := e.mustMetric("neuron_request_errors_total", "plugin", "ok", "code", "rate_limited"); got < float64(refused) {
		t.Errorf("neuron_request_errors_total{code=rate_limited} = %v, want at least %d", got, refused)
	}
	if got := e.mustMetric("neuron_requests_total", "plugin", "ok", "status", "200"); int(got) != accepted+burst {
		t.Errorf("neuron_requests_total{status=200} = %v, want %d", got, accepted+burst)
	}
	for _, tr := range e.rt.Traffic() {
		if tr.Plugin == "ok" && tr.ClientErrors < uint64(refused) {
			t.Errorf("Traffic: %d client errors, want at least the %d refused", tr.ClientErrors, refused)
		}
	}

	// A processor's limit holds across callers: at 0.01 rps its bucket
	// has one call, whoever makes it, for the next 100 s.
	if err := e.rt.SetDynamic(runtime.Dynamic{RateLimits: runtime.RateLimits{Plugins: map[string]float64{"ok": 0.01}}}); err != nil {
		t.Fatal(err)
	}
	if r := e.from("127.0.0.3").get("/w/ok/handle"); r.status != http.StatusOK {
		t.Fatalf("first call under the processor's limit: status %d %s", r.status, r.body)
	}
	for _, ip := range []string{"127.0.0.4", "127.0.0.5"} {
		r := e.from(ip).get("/w/ok/handle")
		checkRefusal(t, r, 1, "processor ok takes no more requests now")
		if got := r.header.Get("Retry-After"); got != "100" && got != "99" {
			t.Errorf("Retry-After %q under a 0.01 rps limit, want 100 (s)", got)
		}
	}
	if got := e.mustMetric("neuron_rate_limited_total", "plugin", "ok", "scope", "plugin"); got != 2 {
		t.Errorf("neuron_rate_limited_total{scope=plugin} = %v, want 2", got)
	}

	// Limits off: every call is served.
	if err := e.rt.SetDynamic(runtime.Dynamic{}); err != nil {
		t.Fatal(err)
	}
	for range 3 * burst {
		if r := e.get("/w/ok/handle"); r.status != http.StatusOK {
			t.Fatalf("no limit: status %d %s", r.status, r.body)
		}
	}
}

// checkRefusal checks a 429 of a bucket of burst requests, whose message
// starts with msg.
func checkRefusal(t *testing.T, r reply, burst int, msg string) {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("status %d %s, want 429", r.status, r.body)
	}
	if e := r.apiError(t); e.Code != runtime.CodeRateLimited || !strings.HasPrefix(e.Error, msg) {
		t.Errorf("error %+v, want code %s and a message starting %q", e, runtime.CodeRateLimited, msg)
	}
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || retry < 1 {
		t.Errorf("Retry-After %q: want whole seconds, at least 1", r.header.Get("Retry-After"))
	}
	if got := r.header.Get("RateLimit-Limit"); got != strconv.Itoa(burst) {
		t.Errorf("RateLimit-Limit %q, want %d", got, burst)
	}
	if r.header.Get("RateLimit-Remaining") != "0" || r.header.Get("RateLimit-Reset") != r.header.Get("Retry-After") {
		t.Errorf("RateLimit-Remaining %q, RateLimit-Reset %q: want 0 and the Retry-After",
			r.header.Get("RateLimit-Remaining"), r.header.Get("RateLimit-Reset"))
	}
}

// TestRateLimitRefused: a rate limit out of range is refused whole, with a
// message naming the key, and the limits in force stay.
func TestRateLimitRefused(t *testing.T) {
	e := newEnv(t, runtime.Options{}, nil)
	err := e.rt.SetDynamic(runtime.Dynamic{RateLimits: runtime.RateLimits{Caller: -1, Plugins: map[string]float64{"ok": 2e6}}})
	for _, want := range []string{"rateLimit -1", "rateLimits.ok"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("SetDynamic: %v; want it to name %s", err, want)
		}
	}
	if _, err := runtime.New(context.Background(), runtime.Options{DataDir: t.TempDir(), RateLimits: runtime.RateLimits{CallerBurst: -1}}); err == nil || !strings.Contains(err.Error(), "rateBurst") {
		t.Errorf("New with a negative burst: %v", err)
	}
}
