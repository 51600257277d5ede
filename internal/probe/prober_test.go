package probe

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
)

// waitLimit bounds every wait for a probe; probes run every few
// milliseconds, so it is only reached when something is broken.
const waitLimit = 30 * time.Second

// fast is how often the tests' dependencies are probed.
const fast = 10 * time.Millisecond

func startProber(t *testing.T, deps []Dependency, log *slog.Logger) *Prober {
	t.Helper()
	p, err := Start(t.Context(), deps, log)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(p.Stop)
	return p
}

func waitStatus(t *testing.T, p *Prober, name, want string) {
	t.Helper()
	testutil.Eventually(t, waitLimit, name+" to be "+want, func() bool { return p.Status()[name] == want })
}

// waitProbes waits until n more probes of name have finished.
func waitProbes(t *testing.T, p *Prober, name string, n int) {
	t.Helper()
	for range n {
		last := p.Results()[name].Checked
		testutil.Eventually(t, waitLimit, "another probe of "+name, func() bool { return p.Results()[name].Checked.After(last) })
	}
}

// A Redis server that dies is reported unhealthy, and healthy again once
// it is back; each change is logged once, not at every probe.
func TestProberFollowsRedisOutage(t *testing.T) {
	server := testutil.StartRedis(t)
	var logs testutil.Buffer
	p := startProber(t, []Dependency{{Name: "redis", Kind: KindRedis, Target: server.Addr, Interval: fast}},
		slog.New(slog.NewTextHandler(&logs, nil)))

	waitStatus(t, p, "redis", StatusHealthy)
	if !p.Healthy() {
		t.Fatal("Healthy() = false with Redis up")
	}

	server.Stop()
	waitStatus(t, p, "redis", StatusUnhealthy)
	if p.Healthy() {
		t.Fatal("Healthy() = true with a required Redis down")
	}
	// A probe that met the server as it stopped fails on its connection
	// (PING: EOF); the next ones cannot connect at all.
	testutil.Eventually(t, waitLimit, "a probe failing to dial", func() bool {
		return strings.Contains(p.Results()["redis"].Error, "connection refused")
	})
	waitProbes(t, p, "redis", 3) // still down: nothing more to log

	server.Start()
	waitStatus(t, p, "redis", StatusHealthy)
	waitProbes(t, p, "redis", 3)

	out := logs.String()
	if n := strings.Count(out, `msg="dependency unhealthy"`); n != 1 {
		t.Errorf("logged %d unhealthy changes, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, `msg="dependency healthy"`); n != 2 { // first probe, then recovery
		t.Errorf("logged %d healthy changes, want 2:\n%s", n, out)
	}
	// The change is logged with the error of the probe that saw it: one
	// that met the server as it stopped (EOF, connection reset) or one
	// that could not connect.
	if !regexp.MustCompile(`level=WARN msg="dependency unhealthy" .* error="[^"]+"`).MatchString(out) {
		t.Errorf("the unhealthy change is not a WARN with the error:\n%s", out)
	}
}

// An HTTP dependency follows the status code its server answers.
func TestProberFollowsHTTPStatus(t *testing.T) {
	var code atomic.Int32
	code.Store(http.StatusOK)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(code.Load()))
	}))
	t.Cleanup(server.Close)
	p := startProber(t, []Dependency{{Name: "api", Kind: KindHTTP, Target: server.URL + "/health", Interval: fast}}, nil)

	waitStatus(t, p, "api", StatusHealthy)
	code.Store(http.StatusInternalServerError)
	waitStatus(t, p, "api", StatusUnhealthy)
	if r := p.Results()["api"]; !strings.Contains(r.Error, "500 Internal Server Error") {
		t.Fatalf("Results()[api] = %+v, want the status in the error", r)
	}
	code.Store(http.StatusNoContent)
	waitStatus(t, p, "api", StatusHealthy)
}

func TestProberHealthy(t *testing.T) {
	tests := []struct {
		name        string
		upOptional  bool // whether the optional dependency is up
		upRequired  bool
		wantHealthy bool
	}{
		{name: "all up", upOptional: true, upRequired: true, wantHealthy: true},
		{name: "optional down", upOptional: false, upRequired: true, wantHealthy: true},
		{name: "required down", upOptional: true, upRequired: false, wantHealthy: false},
		{name: "all down", upOptional: false, upRequired: false, wantHealthy: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := func(up bool) string {
				if up {
					return listen(t, silent)
				}
				return testutil.ClosedAddr(t)
			}
			p := startProber(t, []Dependency{
				{Name: "cache", Kind: KindTCP, Target: target(tc.upOptional), Interval: fast, Optional: true},
				{Name: "db", Kind: KindTCP, Target: target(tc.upRequired), Interval: fast},
			}, nil)
			want := map[string]string{"cache": StatusUnhealthy, "db": StatusUnhealthy}
			if tc.upOptional {
				want["cache"] = StatusHealthy
			}
			if tc.upRequired {
				want["db"] = StatusHealthy
			}
			testutil.Eventually(t, waitLimit, "both dependencies probed", func() bool { return maps.Equal(p.Status(), want) })
			if got := p.Healthy(); got != tc.wantHealthy {
				t.Fatalf("Healthy() = %v with %v, want %v", got, p.Status(), tc.wantHealthy)
			}
			if r := p.Results()["cache"]; !r.Optional {
				t.Fatalf("Results()[cache] = %+v, want Optional", r)
			}
		})
	}
}

// Before its first probe ends a dependency is unknown, which does not make
// the neuron unhealthy; Stop gives up a probe in flight without recording
// it as a failure.
func TestProberUnknownUntilProbedAndStop(t *testing.T) {
	target := "postgres://postgres@" + listen(t, silent) + "/postgres?sslmode=disable"
	p := startProber(t, []Dependency{{Name: "postgresql", Kind: KindPostgres, Target: target, Timeout: time.Hour}}, nil)
	if got := p.Status(); !maps.Equal(got, map[string]string{"postgresql": StatusUnknown}) {
		t.Fatalf("Status() = %v before the first probe ended, want unknown", got)
	}
	if !p.Healthy() {
		t.Fatal("Healthy() = false before any probe ended")
	}
	p.Stop() // returns only once the hanging probe has given up
	p.Stop()
	if got := p.Results()["postgresql"]; got.Status != StatusUnknown || !got.Checked.IsZero() {
		t.Fatalf("Results() after Stop = %+v, want the probe given up, not recorded", got)
	}
}

// Cancelling Start's context stops the probing as Stop does.
func TestProberStopsWithContext(t *testing.T) {
	addr := listen(t, silent)
	ctx, cancel := context.WithCancel(t.Context())
	p, err := Start(ctx, []Dependency{{Name: "svc", Kind: KindTCP, Target: addr, Interval: fast}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, p, "svc", StatusHealthy)
	cancel()
	p.wg.Wait() // every probe goroutine has returned
	last := p.Results()["svc"].Checked
	p.Stop()
	if got := p.Results()["svc"].Checked; !got.Equal(last) {
		t.Fatalf("a probe ran after the context was cancelled: %s then %s", last, got)
	}
}

func TestNilProber(t *testing.T) {
	var p *Prober
	if got := p.Status(); got == nil || len(got) != 0 {
		t.Fatalf("nil Status() = %#v, want an empty map", got)
	}
	if got := p.Results(); got == nil || len(got) != 0 {
		t.Fatalf("nil Results() = %#v, want an empty map", got)
	}
	if !p.Healthy() {
		t.Fatal("nil Healthy() = false")
	}
	p.Stop()
}

// The maps handed out are copies: changing one changes nothing inside.
func TestProberMapsAreCopies(t *testing.T) {
	p := startProber(t, []Dependency{{Name: "svc", Kind: KindTCP, Target: testutil.ClosedAddr(t), Interval: time.Hour}}, nil)
	waitStatus(t, p, "svc", StatusUnhealthy)
	p.Status()["svc"] = StatusHealthy
	r := p.Results()
	r["svc"] = Result{Status: StatusHealthy}
	if p.Status()["svc"] != StatusUnhealthy || p.Healthy() {
		t.Fatal("changing a returned map changed the prober")
	}
}
