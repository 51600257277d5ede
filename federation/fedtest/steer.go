package fedtest

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/empirefederation/neuron/federation"
)

// FailNext makes the next n requests to path answer status (after any
// earlier FailNext for path is used up).
func (s *Server) FailNext(path string, status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN[path] = append(s.failN[path], failure{status: status, left: n})
}

// Fail makes every request to path answer status until Fail(path, 0).
func (s *Server) Fail(path string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[path] = status
}

// RetryAfter makes injected failures (FailNext, Fail) carry a Retry-After
// of d, rounded up to whole seconds; 0 removes it.
func (s *Server) RetryAfter(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retry = d
}

// Slow delays every answer on path by d; 0 removes the delay.
func (s *Server) Slow(path string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slow[path] = d
}

// Unauthorized makes the next n authenticated calls answer 401, whatever
// their token.
func (s *Server) Unauthorized(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unauth = n
}

// RejectStale makes the server refuse (401) a token once its neuron has
// registered again and got a newer one. By default every issued token is
// accepted.
func (s *Server) RejectStale(reject bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stale = reject
}

// SetConfig sets what GET /api/neuron/config returns in data.
func (s *Server) SetConfig(u federation.Update) {
	raw, err := json.Marshal(u)
	if err != nil {
		s.tb.Fatalf("fedtest: encode config: %v", err)
	}
	s.SetConfigRaw(raw)
}

// SetConfigRaw sets the raw JSON GET /api/neuron/config returns in data;
// nil makes it null.
func (s *Server) SetConfigRaw(raw json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.config = slices.Clone(raw)
}

// Registrations returns the registrations accepted, in order.
func (s *Server) Registrations() []federation.Registration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.regs)
}

// Heartbeats returns the heartbeats accepted, in order.
func (s *Server) Heartbeats() []federation.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.beats)
}

// Analytics returns the analytics reports accepted, in order. Reports
// answered with an error (injected or a bad token) are not in it.
func (s *Server) Analytics() []federation.AnalyticsReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reports)
}

// Requests returns every request received on path (all paths when path is
// ""), whatever it was answered, in order of arrival.
func (s *Server) Requests(path string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.reqs {
		if path == "" || r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// Tokens returns the tokens issued, in order ("tok-1", "tok-2", ...).
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, s.issued)
	for i := range out {
		out[i] = tokenName(i + 1)
	}
	return out
}

// Totals are analytics metrics summed over every accepted report.
type Totals struct {
	Reports            int
	TotalRequests      int64
	SuccessfulRequests int64
	FailedRequests     int64
	DataProcessed      int64
	Events             int
	Dropped            int64
	CustomMetrics      map[string]float64
}

// SumAnalytics adds up the metrics of every accepted analytics report.
func (s *Server) SumAnalytics() Totals {
	t := Totals{CustomMetrics: map[string]float64{}}
	for _, r := range s.Analytics() {
		t.Reports++
		t.TotalRequests += r.Metrics.TotalRequests
		t.SuccessfulRequests += r.Metrics.SuccessfulRequests
		t.FailedRequests += r.Metrics.FailedRequests
		t.DataProcessed += r.Metrics.DataProcessed
		t.Events += len(r.Events)
		t.Dropped += r.Dropped
		for k, v := range r.Metrics.CustomMetrics {
			t.CustomMetrics[k] += v
		}
	}
	return t
}
