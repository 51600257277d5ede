package ratelimit

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCallersBounded: 100,000 distinct callers keep at most the bound of
// buckets, whatever their order, and a caller seen again is still limited.
func TestCallersBounded(t *testing.T) {
	const bound = 4096
	lim := New(bound)
	lim.Set(Limits{Caller: 1, CallerBurst: 1})
	now := time.Unix(1000, 0)
	for i := range 100_000 {
		caller := "10." + strconv.Itoa(i>>16) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
		if _, ok := lim.Allow(caller, "hello", now); !ok {
			t.Fatalf("caller %d refused on its first request", i)
		}
		if n := lim.Callers(); n > bound {
			t.Fatalf("after %d callers: %d buckets kept, bound %d", i+1, n, bound)
		}
	}
	if n := lim.Callers(); n < bound*9/10 {
		t.Errorf("%d buckets kept: the table should fill up to its bound %d", n, bound)
	}
	if _, ok := lim.Allow("192.0.2.1", "hello", now); !ok {
		t.Fatal("a new caller refused")
	}
	if r, ok := lim.Allow("192.0.2.1", "hello", now); ok || r.Scope != ScopeCaller || r.Wait != time.Second {
		t.Fatalf("second request of a 1 rps caller at once: %+v, allowed %v; want refused by its caller bucket for 1s", r, ok)
	}
}

// TestRate: at twice the rate for 3 s, the limiter allows rate × 3 s +
// burst, from each caller separately, and the processor's bucket applies
// across callers.
func TestRate(t *testing.T) {
	lim := New(1024)
	lim.Set(Limits{Caller: 20, CallerBurst: 5})
	start := time.Unix(1000, 0)
	allowed := map[string]int{}
	for i := range 120 { // 40 per second for 3 s
		now := start.Add(time.Duration(i) * 25 * time.Millisecond)
		for _, c := range []string{"a", "b"} {
			if _, ok := lim.Allow(c, "hello", now); ok {
				allowed[c]++
			}
		}
	}
	// The last request is at 2.975 s: 20 × 2.975 + 5 = 64.5 tokens.
	for _, c := range []string{"a", "b"} {
		if allowed[c] != 64 {
			t.Errorf("caller %s: %d allowed, want 64", c, allowed[c])
		}
	}

	lim.Set(Limits{Plugins: map[string]float64{"hello": 10}})
	if lim.Callers() != 0 {
		t.Errorf("%d caller buckets kept with no caller limit", lim.Callers())
	}
	n := 0
	for i := range 40 { // two callers, each 20 rps, for 1 s
		now := start.Add(time.Duration(i) * 25 * time.Millisecond)
		if _, ok := lim.Allow("c"+strconv.Itoa(i%2), "hello", now); ok {
			n++
		}
		if _, ok := lim.Allow("c"+strconv.Itoa(i%2), "other", now); !ok {
			t.Fatal("a processor without a limit refused a call")
		}
	}
	if n != 19 { // 10 at once, then 10 per second for 0.975 s
		t.Errorf("processor hello allowed %d of 40 calls in 1 s, want 19", n)
	}
	if r, ok := lim.Allow("c9", "hello", start.Add(975*time.Millisecond)); ok || r.Scope != ScopePlugin || r.Burst != 10 {
		t.Errorf("processor bucket empty: %+v, allowed %v; want refused by the plugin bucket of 10", r, ok)
	}
}

// TestSetKeepsBuckets: a new Limits changes the callers' rate in place and
// keeps a processor's bucket whose rate did not change; all zero turns the
// limiter off.
func TestSetKeepsBuckets(t *testing.T) {
	lim := New(1024)
	now := time.Unix(1000, 0)
	lim.Set(Limits{Caller: 1, Plugins: map[string]float64{"p": 1}})
	lim.Allow("a", "p", now)
	lim.Set(Limits{Caller: 2, Plugins: map[string]float64{"p": 1}})
	if r, ok := lim.Allow("b", "p", now); ok || r.Scope != ScopePlugin {
		t.Errorf("processor bucket reset by an unrelated change: %+v %v", r, ok)
	}
	if r, ok := lim.Allow("a", "q", now); ok || r.Scope != ScopeCaller || r.Burst != 2 {
		t.Errorf("caller bucket after the rate changed to 2: %+v %v; want refused, burst 2", r, ok)
	}
	lim.Set(Limits{})
	if _, ok := lim.Allow("a", "p", now); !ok || lim.Callers() != 0 {
		t.Errorf("no limits: refused or buckets kept (%d)", lim.Callers())
	}
}

func TestCheck(t *testing.T) {
	err := Limits{Caller: -1, CallerBurst: -2, Plugins: map[string]float64{"": 1, "x": 2e6}}.Check()
	for _, want := range []string{"rateLimit -1", "rateBurst -2", "rateLimits. 1", "rateLimits.x 2e+06"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check: %v; want it to name %q", err, want)
		}
	}
	if err := (Limits{Caller: 20, CallerBurst: 40, Plugins: map[string]float64{"hello": 0.5}}).Check(); err != nil {
		t.Error(err)
	}
}

// BenchmarkAllow: one request of a known caller under both limits, and
// with no limit set.
func BenchmarkAllow(b *testing.B) {
	lim := New(1024)
	now := time.Unix(1000, 0)
	b.Run("off", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			lim.Allow("127.0.0.1", "hello", now)
		}
	})
	lim.Set(Limits{Caller: 1e6, Plugins: map[string]float64{"hello": 1e6}})
	b.Run("on", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			lim.Allow("127.0.0.1", "hello", now)
		}
	})
}
