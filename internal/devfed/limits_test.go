package devfed

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The attack review's registration flood: 300 registrations of new ids
// from one address. Past the burst they are refused with 429 and
// Retry-After, and the neuron records stay within MaxNeurons.
func TestRegistrationFloodRefused(t *testing.T) {
	f := newFed(t, func(o *Options) { o.RegisterBurst = 20; o.RegisterRate = 0.001; o.MaxNeurons = 15 })
	var created, limited, full int
	for i := range 300 {
		resp, raw := f.send("POST", "/api/neuron/register", "", regBody(fmt.Sprintf("flood-%d", i), ""))
		switch resp.StatusCode {
		case http.StatusCreated:
			created++
		case http.StatusInsufficientStorage:
			full++
			if !strings.Contains(string(raw), "--max-neurons") {
				t.Errorf("507 does not say what to do: %s", raw)
			}
		case http.StatusTooManyRequests:
			limited++
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
				t.Errorf("429 with Retry-After %q", resp.Header.Get("Retry-After"))
			}
			if !strings.Contains(string(raw), "too_many_requests") {
				t.Errorf("429 body %s", raw)
			}
		default:
			t.Fatalf("registration %d: %d %s", i, resp.StatusCode, raw)
		}
	}
	if created != 15 || full != 5 || limited != 280 {
		t.Errorf("created %d, refused for room %d, rate-limited %d; want 15, 5, 280", created, full, limited)
	}
	var all []neuronSummary
	f.admin("GET", "/api/admin/neurons", nil, http.StatusOK, &all)
	if len(all) != 15 {
		t.Errorf("%d neurons kept, want 15", len(all))
	}
}

// A registration body is bounded below the general body limit: it is kept
// for as long as the neuron is.
func TestRegistrationSizeBounded(t *testing.T) {
	f := newFed(t)
	b := regBody("n-1", "")
	b["metadata"] = map[string]any{"pad": strings.Repeat("x", maxRegistrationBytes)}
	status, env := f.call("POST", "/api/neuron/register", "", b)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(env.Error, "64 KiB") {
		t.Errorf("oversized registration: %d %q", status, env.Error)
	}
}

// Neurons silent for NeuronExpiry are forgotten with their telemetry; the
// others stay.
func TestNeuronsExpire(t *testing.T) {
	f := newFed(t, func(o *Options) { o.NeuronExpiry = time.Hour })
	old := f.register(regBody("gone", ""))
	f.beat(old, "active", "")
	f.clock.Add(59 * time.Minute)
	f.beat(f.register(regBody("alive", "")), "active", "")
	f.clock.Add(2 * time.Minute)
	if _, expired, err := f.s.prune(t.Context()); err != nil || expired != 1 {
		t.Fatalf("expired %d (%v), want 1", expired, err)
	}
	var all []neuronSummary
	f.admin("GET", "/api/admin/neurons", nil, http.StatusOK, &all)
	if len(all) != 1 || all[0].ID != "alive" {
		t.Errorf("kept %+v, want alive only", all)
	}
	if status, _ := f.call("POST", "/api/neuron/status", old, beatBody("active", "")); status != http.StatusUnauthorized {
		t.Errorf("the forgotten neuron's token: %d, want 401 (it registers again)", status)
	}
	if _, err := Open(Options{DataDir: t.TempDir(), NeuronExpiry: time.Minute}); err == nil || !strings.Contains(err.Error(), "offline period") {
		t.Errorf("an expiry within the offline period: %v", err)
	}
}
