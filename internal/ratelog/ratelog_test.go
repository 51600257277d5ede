package ratelog

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/empirefederation/neuron/internal/testutil"
)

// TestHandler: past the burst, records are counted, not written, derived
// handlers share the limit, disabled levels take no share, and the next
// record written carries the count.
func TestHandler(t *testing.T) {
	var buf testutil.Buffer
	h := New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}), rate.Every(time.Hour), 3)
	log := slog.New(h)
	derived := log.With("k", "v")
	for range 100 {
		log.Debug("not enabled") // takes no share
	}
	for i := range 10 {
		if i%2 == 0 {
			log.Error("failed")
		} else {
			derived.Error("failed")
		}
	}
	if n := strings.Count(buf.String(), "msg=failed"); n != 3 {
		t.Fatalf("%d lines written, want the burst of 3:\n%s", n, buf.String())
	}
	h.state.limit.SetLimit(rate.Inf) // the next line gets through
	derived.Info("later")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "msg=later") || !strings.Contains(last, "suppressed=7") {
		t.Fatalf("last line %q: want it to carry suppressed=7", last)
	}
	log.Info("after")
	lines = strings.Split(strings.TrimSpace(buf.String()), "\n")
	if last := lines[len(lines)-1]; strings.Contains(last, "suppressed") {
		t.Fatalf("last line %q: the count is told once", last)
	}
}
