package control

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/runtime"
)

// TestRateLimitsUpdate: a federation update's rateLimit, rateBurst and
// rateLimits.NAME replace the configured rate limits key by key; the next
// update without them restores the configured ones; an out-of-range value
// is refused whole with the reason, and a pinned key cannot be set.
func TestRateLimitsUpdate(t *testing.T) {
	base := runtime.RateLimits{Caller: 5, CallerBurst: 7, Plugins: map[string]float64{"other": 1}}
	e := newEnv(t, t.TempDir(), func(o *Options) { o.RateLimits = base })
	if _, err := e.c.Apply(context.Background(), update(t, `{"config": {"rateLimit": 10, "rateLimits.hello": 2.5}, "version": "v1"}`), "push"); err != nil {
		t.Fatal(err)
	}
	want := runtime.RateLimits{Caller: 10, CallerBurst: 7, Plugins: map[string]float64{"other": 1, "hello": 2.5}}
	if got := e.target.last().RateLimits; !sameLimits(got, want) {
		t.Errorf("after the update: %+v, want %+v", got, want)
	}
	if base.Plugins["hello"] != 0 {
		t.Error("the update wrote into the configured limits")
	}
	if _, err := e.c.Apply(context.Background(), update(t, `{"config": {"rateBurst": 3}, "version": "v2"}`), "push"); err != nil {
		t.Fatal(err)
	}
	want = runtime.RateLimits{Caller: 5, CallerBurst: 3, Plugins: map[string]float64{"other": 1}}
	if got := e.target.last().RateLimits; !sameLimits(got, want) {
		t.Errorf("after an update without the rates: %+v, want %+v", got, want)
	}

	for body, reason := range map[string]string{
		`{"config": {"rateLimit": -1}}`:            "config.rateLimit: must be from 0 to 1e+06, got -1 (requests per second; 0 is unlimited)",
		`{"config": {"rateBurst": 0.5}}`:           "config.rateBurst: must be a whole number, got 0.5",
		`{"config": {"rateLimits.hello": "fast"}}`: "config.rateLimits.hello: must be a number, not a string",
		`{"config": {"rateLimits": {"hello": 1}}}`: "config.rateLimits: set one processor's rate as rateLimits.NAME",
	} {
		before := len(e.target.applied)
		_, err := e.c.Apply(context.Background(), update(t, body), "push")
		var rej *RejectedError
		if !errors.As(err, &rej) || !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: %v, want a rejection saying %q", body, err, reason)
		}
		if len(e.target.applied) != before {
			t.Errorf("%s: applied", body)
		}
	}

	pinned := newEnv(t, t.TempDir(), func(o *Options) { o.Pinned = []string{"rateLimit"} })
	if _, err := pinned.c.Apply(context.Background(), update(t, `{"config": {"rateLimit": 1000}}`), "push"); err == nil || !strings.Contains(err.Error(), "pinned") {
		t.Errorf("pinned rateLimit set by an update: %v", err)
	}
}

func sameLimits(a, b runtime.RateLimits) bool {
	return a.Caller == b.Caller && a.CallerBurst == b.CallerBurst && maps.Equal(a.Plugins, b.Plugins)
}
