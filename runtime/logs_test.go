package runtime_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// noisyFiles is the plugins directory of the noisy processor: a
// hand-written module whose /noisy/fail traps and whose /noisy/chatty logs
// 1000 lines a call.
func noisyFiles(t *testing.T) map[string][]byte {
	return map[string][]byte{
		"noisy.wasm": testutil.Wat(t, "testdata/noisy.wat"),
		"noisy.json": []byte(`{"name":"noisy","version":"1.0.0","endpoints":[` +
			`{"method":"POST","path":"/noisy/fail","export":"fail"},{"method":"POST","path":"/noisy/chatty","export":"chatty"}]}`),
	}
}

// linesAndSuppressed returns how many log records with message msg (and
// the given attributes) there are, and the sum of their suppressed counts.
func (e *env) linesAndSuppressed(msg string, attrs ...string) (lines, suppressed int) {
	for _, rec := range e.logs.find(msg, attrs...) {
		lines++
		if n, ok := rec["suppressed"].(float64); ok {
			suppressed += int(n)
		}
	}
	return lines, suppressed
}

// TestFailLogsRateLimited: 2,000 trapping calls write a burst of error
// lines, then about one a second; metrics count every failure, and a
// later line says how many were suppressed, so that lines and counts add
// up to the calls.
func TestFailLogsRateLimited(t *testing.T) {
	const calls = 2000
	e := startEnv(t, runtime.Options{}, noisyFiles(t))
	start := time.Now()
	for range calls {
		if r := e.do(http.MethodPost, "/noisy/fail", nil); r.status != http.StatusInternalServerError {
			t.Fatalf("trap: status %d %s, want 500", r.status, r.body)
		}
	}
	elapsed := time.Since(start)
	lines, _ := e.linesAndSuppressed("processor call failed", "code", runtime.CodeTrap)
	// A burst of 10, then one a second (1 more for rounding).
	if most := 10 + int(elapsed.Seconds()) + 1; lines > most {
		t.Fatalf("%d failures in %v wrote %d lines, want at most %d", calls, elapsed, lines, most)
	}
	if n := e.mustMetric("neuron_request_errors_total", "plugin", "noisy", "code", runtime.CodeTrap); n != calls {
		t.Fatalf("errors counted %v, want every one of %d", n, calls)
	}
	made := calls
	testutil.Eventually(t, waitLimit, "a later failure's line says how many were suppressed", func() bool {
		e.do(http.MethodPost, "/noisy/fail", nil)
		made++
		lines, suppressed := e.linesAndSuppressed("processor call failed", "code", runtime.CodeTrap)
		return lines+suppressed == made
	})
}

// TestGuestLogsRateLimited: a processor writing 1,000 lines in one call
// gets a burst of them written, the rest counted, and a later line says
// how many.
func TestGuestLogsRateLimited(t *testing.T) {
	e := startEnv(t, runtime.Options{}, noisyFiles(t))
	start := time.Now()
	if r := e.do(http.MethodPost, "/noisy/chatty", nil); r.status != http.StatusOK {
		t.Fatalf("chatty: status %d %s", r.status, r.body)
	}
	elapsed := time.Since(start)
	lines, _ := e.linesAndSuppressed("spam", "plugin", "noisy")
	// A burst of 100, then 50 a second (1 more for rounding).
	if most := 100 + int(50*elapsed.Seconds()) + 1; lines > most {
		t.Fatalf("1000 guest lines in %v: %d written, want at most %d", elapsed, lines, most)
	}
	made := 1000
	testutil.Eventually(t, waitLimit, "a later guest line says how many were suppressed", func() bool {
		e.do(http.MethodPost, "/noisy/chatty", nil)
		made += 1000
		lines, suppressed := e.linesAndSuppressed("spam", "plugin", "noisy")
		// The last call's own suppressed lines are told by a later one.
		return lines+suppressed > made-1000 && suppressed > 0
	})
}
