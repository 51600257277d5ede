package experiment

import (
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// load is the synthetic traffic one variant gets each second: perSecond
// calls, of which every failEvery-th answers 500 (0: none), each taking
// latency.
type load struct {
	variant, perSecond, failEvery int
	latency                       time.Duration
}

// drive runs seconds of synthetic time, Check once a second, as the
// runtime's ticker will, and returns each variant's stop by name.
func drive(t *testing.T, s *Split, start time.Time, seconds int, loads ...load) map[string]Stopped {
	t.Helper()
	stops := map[string]Stopped{}
	calls := make([]int, len(loads))
	s.Check(start)
	for sec := 1; sec <= seconds; sec++ {
		for i, l := range loads {
			for range l.perSecond {
				calls[i]++
				status := 200
				if l.failEvery > 0 && calls[i]%l.failEvery == 0 {
					status = 503
				}
				s.Observe(l.variant, status, l.latency)
			}
		}
		for _, st := range s.Check(start.Add(time.Duration(sec) * time.Second)) {
			if _, again := stops[st.Name]; again {
				t.Errorf("variant %s reported stopped twice", st.Name)
			}
			stops[st.Name] = st
		}
	}
	return stops
}

func TestGuardrails(t *testing.T) {
	names := []string{"control", "treatment", "healthy"}
	tests := []struct {
		name       string
		guardrails *federation.Guardrails
		opts       []Option
		loads      []load
		wantStop   map[string]string // variant → metric
	}{
		{"10% errors against errorRate 5", &federation.Guardrails{ErrorRate: 5}, nil,
			[]load{{0, 10, 10, time.Millisecond}, {1, 10, 10, time.Millisecond}, {2, 10, 100, time.Millisecond}},
			map[string]string{"treatment": MetricErrorRate}},
		{"slow against responseTime 200", &federation.Guardrails{ResponseTime: 200}, nil,
			[]load{{0, 10, 0, time.Second}, {1, 10, 0, 300 * time.Millisecond}, {2, 10, 0, 150 * time.Millisecond}},
			map[string]string{"treatment": MetricResponseTime}},
		{"neuron thresholds when the experiment has none", nil,
			[]Option{WithDefaultGuardrails(federation.Guardrails{ErrorRate: 5, ResponseTime: 2000})},
			[]load{{0, 10, 10, time.Millisecond}, {1, 10, 10, time.Millisecond}, {2, 10, 0, time.Second}},
			map[string]string{"treatment": MetricErrorRate}},
		{"experiment's zero is no limit", &federation.Guardrails{ResponseTime: 5000},
			[]Option{WithDefaultGuardrails(federation.Guardrails{ErrorRate: 5})},
			[]load{{1, 10, 2, time.Millisecond}}, nil},
		{"no guardrails at all", nil, nil,
			[]load{{1, 10, 2, time.Hour}}, nil},
		{"exactly at the threshold", &federation.Guardrails{ErrorRate: 10}, nil,
			[]load{{1, 10, 10, time.Millisecond}}, nil},
		{"error rate first", &federation.Guardrails{ErrorRate: 5, ResponseTime: 1}, nil,
			[]load{{1, 10, 10, time.Second}}, map[string]string{"treatment": MetricErrorRate}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := experiment("exp-guard", names, 50, 25, 25)
			e.Guardrails = tc.guardrails
			s := mustCompile(t, e, tc.opts...)
			stops := drive(t, s, t0, 90, tc.loads...)
			if len(stops) != len(tc.wantStop) {
				t.Errorf("stopped %v, want %v", stops, tc.wantStop)
			}
			for name, metric := range tc.wantStop {
				st, ok := stops[name]
				if !ok || st.Metric != metric {
					t.Errorf("%s: stop %+v, want one on %s", name, st, metric)
					continue
				}
				// Within one window of the first failing call, on enough calls.
				if elapsed := st.At.Sub(t0); elapsed > DefaultWindow || st.Window > DefaultWindow {
					t.Errorf("%s stopped %s after the first call, over a %s window; want within %s", name, elapsed, st.Window, DefaultWindow)
				}
				if st.Samples < DefaultMinSamples || st.Value <= st.Threshold || st.Name != name || s.Name(st.Variant) != name {
					t.Errorf("%s: stop %+v does not say why", name, st)
				}
				if got := s.Stats()[st.Variant]; !got.Stopped || got.StopReason != st.String() {
					t.Errorf("%s: Stats says stopped=%v %q, want %q", name, got.Stopped, got.StopReason, st.String())
				}
			}
			if st := s.Stats()[s.Control()]; st.Stopped {
				t.Errorf("the control was stopped: %s", st.StopReason)
			}
		})
	}
}

// TestGuardrailMinSamples: one failure in two calls is not judged; the
// same error rate on enough calls is.
func TestGuardrailMinSamples(t *testing.T) {
	e := experiment("exp-min", []string{"control", "b"}, 50, 50)
	e.Guardrails = &federation.Guardrails{ErrorRate: 5}
	s := mustCompile(t, e)
	s.Check(t0)
	s.Observe(1, 200, time.Millisecond)
	s.Observe(1, 500, time.Millisecond)
	if got := s.Check(t0.Add(time.Second)); len(got) != 0 {
		t.Fatalf("stopped on 2 calls: %v", got)
	}
	for i := range DefaultMinSamples - 2 {
		s.Observe(1, 200+300*(i%2), time.Millisecond)
	}
	got := s.Check(t0.Add(2 * time.Second))
	if len(got) != 1 || got[0].Samples != DefaultMinSamples || got[0].Value != 50 {
		t.Fatalf("after %d calls, half failing: stopped %+v, want b at 50%%", DefaultMinSamples, got)
	}
	if want := "error rate 50.00% > 5% over 2s (20 calls)"; got[0].String() != want {
		t.Errorf("reason %q, want %q", got[0].String(), want)
	}
}

// TestGuardrailWindowSlides: failures older than the window no longer
// count, so a variant that failed long ago and is healthy now stays up;
// the same calls judged cumulatively would stop it.
func TestGuardrailWindowSlides(t *testing.T) {
	e := experiment("exp-slide", []string{"control", "b"}, 50, 50)
	e.Guardrails = &federation.Guardrails{ErrorRate: 5}
	s := mustCompile(t, e)
	s.Check(t0)
	for range 10 { // a burst of failures, too few to judge
		s.Observe(1, 500, time.Millisecond)
	}
	var tick time.Time
	for sec := 1; sec <= 45; sec++ {
		tick = t0.Add(time.Duration(sec) * time.Second)
		if got := s.Check(tick); len(got) != 0 {
			t.Fatalf("stopped on the burst alone at %s: %v", tick.Sub(t0), got)
		}
	}
	for range 100 {
		s.Observe(1, 200, time.Millisecond)
	}
	if got := s.Check(tick.Add(time.Second)); len(got) != 0 {
		t.Errorf("stopped by failures older than the window: %+v", got)
	}
	// Cumulatively it would have been 10 of 110, 9%: check that the same
	// calls in one window do stop it.
	s2 := mustCompile(t, e)
	s2.Check(t0)
	for i := range 110 {
		s2.Observe(1, 200+300*min(1, max(0, 10-i)), time.Millisecond)
	}
	if got := s2.Check(t0.Add(time.Second)); len(got) != 1 || !strings.HasPrefix(got[0].String(), "error rate 9.09%") {
		t.Errorf("the same calls within one window: stopped %+v, want b at 9.09%%", got)
	}
}

// TestGuardrailMarksBounded: Check called far more often than the window's
// resolution keeps a bounded number of readings.
func TestGuardrailMarksBounded(t *testing.T) {
	s := mustCompile(t, experiment("exp-marks", []string{"control", "b"}, 50, 50))
	for ms := range 120_000 {
		s.Check(t0.Add(time.Duration(ms) * time.Millisecond))
	}
	if n := len(s.guard.marks); n > markEvery+2 {
		t.Errorf("%d readings kept after 2 minutes of Checks every millisecond, want at most %d", n, markEvery+2)
	}
}
