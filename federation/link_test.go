package federation_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/federation/fedtest"
	"github.com/empirefederation/neuron/internal/testutil"
)

// StartLink returns at once while the federation is down; the Link retries
// with backoff and registers, field for field, once the federation is up,
// then heartbeats and polls the config straight away.
func TestLink_RegistersWhenFederationComesUp(t *testing.T) {
	fed := fedtest.New(t)
	fed.Down()
	n := newFakeNeuron()
	link, logs := startLink(t, fed, n, newMemQueue(), nil)

	testutil.Eventually(t, waitLimit, "three failed registration attempts", func() bool {
		return countLines(logs, "federation registration failed") >= 3
	})
	if link.Registered() || link.Token() != "" {
		t.Fatal("registered while the federation is down")
	}
	for _, want := range []string{"level=WARN", "attempt=1", "attempt=3", "retry_in="} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}

	fed.Up()
	testutil.Eventually(t, waitLimit, "registration", link.Registered)
	testutil.Eventually(t, waitLimit, "first heartbeat and config poll", func() bool {
		return len(fed.Heartbeats()) >= 1 && len(fed.Requests(federation.PathConfig)) >= 1
	})
	regs := fed.Registrations()
	if len(regs) != 1 || !reflect.DeepEqual(regs[0], n.Registration()) {
		t.Errorf("registrations = %+v\nwant [%+v]", regs, n.Registration())
	}
	if link.Token() != "tok-1" {
		t.Errorf("Token() = %q, want tok-1", link.Token())
	}
	if !strings.Contains(logs.String(), "registered with the federation") || !strings.Contains(logs.String(), "token_expires=unknown") {
		t.Error("no INFO line for the registration")
	}
	if got := n.eventTypes(); !slices.Contains(got, "federation_registered") {
		t.Errorf("events = %q, want federation_registered", got)
	}
}

// A registration the federation refuses (400) is logged as an error with the
// federation's message and retried, not abandoned.
func TestLink_RegistrationRefusedIsRetried(t *testing.T) {
	fed := fedtest.New(t)
	fed.FailNext(federation.PathRegister, 400, 2)
	link, logs := startLink(t, fed, newFakeNeuron(), newMemQueue(), nil)
	testutil.Eventually(t, waitLimit, "registration", link.Registered)
	if got := len(fed.Requests(federation.PathRegister)); got != 3 {
		t.Errorf("%d registration requests, want 3", got)
	}
	if got := countLines(logs, "level=ERROR msg=\"the federation refused the registration"); got != 2 {
		t.Errorf("%d ERROR lines for the refusals, want 2", got)
	}
	if !strings.Contains(logs.String(), "injected failure 400 on /api/neuron/register") {
		t.Error("the federation's message is not in the log")
	}
}

// A 401 on a heartbeat leads to exactly one re-registration, and the
// heartbeat is sent again with the new token.
func TestLink_UnauthorizedReregistersOnce(t *testing.T) {
	fed := fedtest.New(t)
	fed.RejectStale(true)
	n := newFakeNeuron()
	link, _ := startLink(t, fed, n, newMemQueue(), func(o *federation.LinkOptions) {
		o.HeartbeatInterval = 30 * time.Millisecond
	})
	// Once the first config poll is done, the next authenticated call (the
	// only one until the re-registration) is a heartbeat.
	testutil.Eventually(t, waitLimit, "a heartbeat and the first config poll", func() bool {
		return len(fed.Heartbeats()) >= 1 && len(fed.Requests(federation.PathConfig)) == 1 && fed.Requests(federation.PathConfig)[0].Status == 200
	})
	fed.Unauthorized(1)
	testutil.Eventually(t, waitLimit, "a heartbeat with the new token", func() bool {
		return slices.ContainsFunc(fed.Requests(federation.PathStatus), func(r fedtest.Request) bool {
			return r.Status == 200 && r.Header.Get("Authorization") == "Bearer tok-2"
		})
	})
	beats := len(fed.Heartbeats())
	testutil.Eventually(t, waitLimit, "three more heartbeats", func() bool { return len(fed.Heartbeats()) >= beats+3 })
	if got := len(fed.Registrations()); got != 2 {
		t.Errorf("%d registrations, want 2", got)
	}
	if link.Token() != "tok-2" {
		t.Errorf("Token() = %q, want tok-2", link.Token())
	}
	// The refused heartbeat is followed by the re-registration and then by
	// its retry with the new token (a config poll may come in between).
	reqs := fed.Requests("")
	i := slices.IndexFunc(reqs, func(r fedtest.Request) bool { return r.Status == 401 })
	if i < 0 || reqs[i].Path != federation.PathStatus || reqs[i+1].Path != federation.PathRegister {
		t.Fatalf("want a refused heartbeat then a registration, got %v", paths(reqs))
	}
	j := i + 2 + slices.IndexFunc(reqs[i+2:], func(r fedtest.Request) bool { return r.Path == federation.PathStatus })
	if j < i+2 || reqs[j].Status != 200 || reqs[j].Header.Get("Authorization") != "Bearer tok-2" {
		t.Errorf("the heartbeat after the re-registration: %+v", reqs[j])
	}
}

// Heartbeats come at the interval (never faster than its jitter allows) and
// carry the neuron's status as is.
func TestLink_HeartbeatsAtInterval(t *testing.T) {
	const interval = 60 * time.Millisecond
	fed := fedtest.New(t)
	n := newFakeNeuron()
	startLink(t, fed, n, newMemQueue(), func(o *federation.LinkOptions) { o.HeartbeatInterval = interval })
	testutil.Eventually(t, waitLimit, "six heartbeats", func() bool { return len(fed.Heartbeats()) >= 6 })
	for i, hb := range fed.Heartbeats() {
		if !reflect.DeepEqual(hb, n.Status()) {
			t.Errorf("heartbeat %d = %+v\nwant %+v", i, hb, n.Status())
		}
	}
	reqs := fed.Requests(federation.PathStatus)
	// -10% jitter, and a few ms for the arrival of one request to lag the
	// next one's.
	const minGap = interval*9/10 - 10*time.Millisecond
	for i := 1; i < len(reqs); i++ {
		if gap := reqs[i].Time.Sub(reqs[i-1].Time); gap < minGap {
			t.Errorf("heartbeats %d and %d %s apart, want at least %s", i-1, i, gap, minGap)
		}
		if got := reqs[i].Header.Get("Authorization"); got != "Bearer tok-1" {
			t.Errorf("heartbeat %d: Authorization %q", i, got)
		}
	}
}

// The config is polled right after registration and on the interval; what
// it returns goes to the neuron with source "poll", and a null config is
// not handed over.
func TestLink_ConfigPoll(t *testing.T) {
	fed := fedtest.New(t)
	u := federation.Update{Config: map[string]any{"batchSize": 10}, Version: "v2"}
	fed.SetConfig(u)
	n := newFakeNeuron()
	startLink(t, fed, n, newMemQueue(), nil) // poll interval: an hour
	testutil.Eventually(t, waitLimit, "the update applied", func() bool {
		got, _ := n.applied()
		return len(got) == 1
	})
	got, sources := n.applied()
	want := federation.Update{Config: map[string]any{"batchSize": json10}, Version: "v2"}
	if !reflect.DeepEqual(got[0], want) || sources[0] != "poll" {
		t.Errorf("applied %#v from %q, want %#v from poll", got[0], sources[0], want)
	}

	fed2 := fedtest.New(t)
	n2 := newFakeNeuron()
	startLink(t, fed2, n2, newMemQueue(), func(o *federation.LinkOptions) { o.ConfigPollInterval = 20 * time.Millisecond })
	testutil.Eventually(t, waitLimit, "three polls", func() bool { return len(fed2.Requests(federation.PathConfig)) >= 3 })
	if got, _ := n2.applied(); len(got) != 0 {
		t.Errorf("a null config was applied: %+v", got)
	}
}

// RegistrationChanged registers again when, and only when, the registration
// differs from what was registered, and the config is fetched after it.
func TestLink_RegistrationChanged(t *testing.T) {
	fed := fedtest.New(t)
	n := newFakeNeuron()
	link, _ := startLink(t, fed, n, newMemQueue(), nil)
	testutil.Eventually(t, waitLimit, "registration and config poll", func() bool {
		return link.Registered() && len(fed.Requests(federation.PathConfig)) == 1
	})

	v2 := federation.Endpoint{Path: "/v2/process", Method: "POST", Description: "Process, v2"}
	n.setEndpoints(v2)
	link.RegistrationChanged()
	testutil.Eventually(t, waitLimit, "second registration", func() bool { return len(fed.Registrations()) == 2 })
	if got := fed.Registrations()[1].APIEndpoints; !slices.Equal(got, []federation.Endpoint{v2}) {
		t.Errorf("re-registered with endpoints %+v, want %+v", got, v2)
	}
	testutil.Eventually(t, waitLimit, "config poll after re-registration", func() bool {
		return len(fed.Requests(federation.PathConfig)) == 2
	})

	link.RegistrationChanged() // nothing changed: no registration
	n.setEndpoints()
	link.RegistrationChanged()
	testutil.Eventually(t, waitLimit, "third registration", func() bool { return len(fed.Registrations()) == 3 })
	testutil.Eventually(t, waitLimit, "its config poll", func() bool { return len(fed.Requests(federation.PathConfig)) == 3 })
	if got := len(fed.Registrations()); got != 3 {
		t.Errorf("%d registrations, want 3: an unchanged registration was sent again", got)
	}
}

// A federation that fails everything is not hammered: over a window, the
// requests it receives are bounded by the intervals and the backoff, both
// before registration and after.
func TestLink_FailingFederationNotHammered(t *testing.T) {
	const window = 1500 * time.Millisecond
	tests := []struct {
		name     string
		register bool // let the registration through first
		maxReqs  int
	}{
		// Backoff 20ms..200ms: about 17 attempts expected in the window.
		{"before registration", false, 60},
		// Heartbeat and config every 50ms (about 30 each), analytics
		// retried with backoff (about 17).
		{"after registration", true, 150},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fed := fedtest.New(t)
			paths := []string{federation.PathStatus, federation.PathAnalytics, federation.PathConfig}
			if !tc.register {
				paths = append(paths, federation.PathRegister)
			}
			for _, p := range paths {
				fed.Fail(p, 500)
			}
			n, q := newFakeNeuron(), newMemQueue()
			link, _ := startLink(t, fed, n, q, func(o *federation.LinkOptions) {
				o.HeartbeatInterval, o.ConfigPollInterval, o.AnalyticsInterval = 50*time.Millisecond, 50*time.Millisecond, 20*time.Millisecond
				o.Backoff = federation.Backoff{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond}
			})
			if tc.register {
				testutil.Eventually(t, waitLimit, "registration", link.Registered)
			}
			before := len(fed.Requests(""))
			time.Sleep(window) // the observation window itself, not a synchronisation
			got := len(fed.Requests("")) - before
			if got > tc.maxReqs || got == 0 {
				t.Errorf("%d requests in %s, want between 1 and %d", got, window, tc.maxReqs)
			}
			if regs := len(fed.Requests(federation.PathRegister)); tc.register && regs != 1 {
				t.Errorf("%d registrations: a 500 must not cause re-registration", regs)
			}
			t.Logf("%d requests in %s", got, window)
			for _, p := range paths { // let Stop deliver the queue quickly
				fed.Fail(p, 0)
			}
		})
	}
}

var json10 = jsonNumber("10")

func paths(reqs []fedtest.Request) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Path)
	}
	return out
}

func statuses(reqs []fedtest.Request) []int {
	var out []int
	for _, r := range reqs {
		out = append(out, r.Status)
	}
	return out
}
