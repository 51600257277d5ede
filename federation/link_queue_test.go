package federation_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/federation/fedtest"
	"github.com/empirefederation/neuron/internal/testutil"
)

// Reports produced while the federation is down are queued and delivered
// after it returns: all of them, once each, in order. Both with the
// in-memory queue and with the on-disk spool.
func TestLink_AnalyticsSurviveOutage(t *testing.T) {
	for name, newQueue := range queues {
		t.Run(name, func(t *testing.T) {
			fed := fedtest.New(t)
			n, q := newFakeNeuron(), newQueue(t)
			link, _ := startLink(t, fed, n, q, func(o *federation.LinkOptions) { o.AnalyticsInterval = 15 * time.Millisecond })
			testutil.Eventually(t, waitLimit, "two reports delivered", func() bool { return len(fed.Analytics()) >= 2 })
			fed.Down()
			testutil.Eventually(t, waitLimit, "five reports queued during the outage", func() bool { return q.Len() >= 5 })
			fed.Up()
			testutil.Eventually(t, waitLimit, "the queue delivered", func() bool {
				return q.Len() == 0 && len(fed.Analytics()) >= 8
			})
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			if err := link.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			assertDeliveredOnce(t, fed, n.producedCount())
			for _, r := range fed.Analytics() {
				if r.NeuronID != "dp-001" || r.Timestamp == "" {
					t.Errorf("report without neuronId or timestamp: %+v", r)
				}
			}
		})
	}
}

// Reports queued on disk when the neuron stopped during an outage are
// delivered by the next run, in order, once each.
func TestLink_SpoolDeliversAfterRestart(t *testing.T) {
	fed := fedtest.New(t)
	dir := t.TempDir()
	n := newFakeNeuron()

	sp := openSpool(t, dir)
	link, _ := startLink(t, fed, n, sp, func(o *federation.LinkOptions) { o.AnalyticsInterval = 10 * time.Millisecond })
	testutil.Eventually(t, waitLimit, "registration", link.Registered)
	fed.Down()
	testutil.Eventually(t, waitLimit, "five reports on disk", func() bool { return sp.Len() >= 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := link.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}

	fed.Up()
	sp = openSpool(t, dir)
	link, _ = startLink(t, fed, n, sp, nil)
	testutil.Eventually(t, waitLimit, "the spool delivered", func() bool { return sp.Len() == 0 })
	if err := link.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertDeliveredOnce(t, fed, n.producedCount())
}

// assertDeliveredOnce checks that the federation accepted reports 1 to
// produced, each once, in order.
func assertDeliveredOnce(t *testing.T, fed *fedtest.Server, produced int64) {
	t.Helper()
	got := seqs(fed.Analytics())
	want := make([]int64, produced)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if !slices.Equal(got, want) {
		t.Errorf("delivered reports %v, want 1..%d once each, in order", got, produced)
	}
	if sum := fed.SumAnalytics().TotalRequests; sum != produced*(produced+1)/2 {
		t.Errorf("total requests summed %d, want %d", sum, produced*(produced+1)/2)
	}
}

// A report the queue refuses is kept in memory and appended, in order,
// once the queue takes reports again.
func TestLink_QueueRefusalKeepsReports(t *testing.T) {
	fed := fedtest.New(t)
	n, q := newFakeNeuron(), newMemQueue()
	q.setFailAppend(true)
	link, logs := startLink(t, fed, n, q, func(o *federation.LinkOptions) { o.AnalyticsInterval = 10 * time.Millisecond })
	testutil.Eventually(t, waitLimit, "three refused appends", func() bool {
		return countLines(logs, "the analytics queue refused a report") >= 3
	})
	q.setFailAppend(false)
	testutil.Eventually(t, waitLimit, "reports delivered", func() bool { return len(fed.Analytics()) >= 5 })
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := link.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got, produced := seqs(fed.Analytics()), n.producedCount(); int64(len(got)) != produced || !slices.IsSorted(got) {
		t.Errorf("delivered %v, want 1..%d in order", got, produced)
	}
}

// A 429 with Retry-After holds the queue back for at least that long; the
// report is then delivered.
func TestLink_RetryAfterHonoured(t *testing.T) {
	fed := fedtest.New(t)
	fed.RetryAfter(time.Second)
	fed.FailNext(federation.PathAnalytics, 429, 1)
	q := newMemQueue()
	link, logs := startLink(t, fed, newFakeNeuron(), q, func(o *federation.LinkOptions) {
		o.Backoff = federation.Backoff{Base: time.Millisecond, Max: 5 * time.Millisecond}
	})
	testutil.Eventually(t, waitLimit, "registration", link.Registered)
	if err := q.Append([]byte(`{"neuronId":"dp-001","metrics":{"totalRequests":1,"successfulRequests":1,"failedRequests":0,"averageResponseTime":0,"dataProcessed":0,"customMetrics":{}},"events":[],"timestamp":"2025-01-21T11:30:00Z"}`)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitLimit, "the report delivered", func() bool { return len(fed.Analytics()) == 1 })
	reqs := fed.Requests(federation.PathAnalytics)
	if len(reqs) != 2 || reqs[0].Status != 429 || reqs[1].Status != 200 {
		t.Fatalf("analytics requests: %v", statuses(reqs))
	}
	if gap := reqs[1].Time.Sub(reqs[0].Time); gap < time.Second {
		t.Errorf("retried %s after the 429, before its Retry-After of 1s", gap)
	}
	if !strings.Contains(logs.String(), "retry_in=1s") {
		t.Error("the log does not show the Retry-After as the retry delay")
	}
}

// A report the federation refuses for good (400) is set aside with the
// federation's reason, and the next one is delivered.
func TestLink_RefusedReportSetAside(t *testing.T) {
	fed := fedtest.New(t)
	fed.FailNext(federation.PathAnalytics, 400, 1)
	n, q := newFakeNeuron(), newMemQueue()
	link, logs := startLink(t, fed, n, q, nil)
	testutil.Eventually(t, waitLimit, "registration", link.Registered)
	for range 2 {
		if err := link.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := seqs(fed.Analytics()); !slices.Equal(got, []int64{2}) {
		t.Errorf("delivered %v, want [2]", got)
	}
	aside := q.asideReasons()
	if len(aside) != 1 || !strings.Contains(aside[1], "HTTP 400: injected failure 400") {
		t.Errorf("set aside: %v, want report 1 with the federation's reason", aside)
	}
	if q.Len() != 0 {
		t.Errorf("%d reports still queued", q.Len())
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !slices.Contains(n.eventTypes(), "analytics_report_set_aside") {
		t.Error("the refusal was neither logged as an error nor reported as an event")
	}
}

// Stop sends a "stopping" heartbeat and delivers the final report; with the
// federation down, the final report stays queued and Stop still returns.
func TestLink_Stop(t *testing.T) {
	tests := []struct {
		name       string
		down       bool
		wantQueued int
	}{
		{"federation up", false, 0},
		{"federation down", true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fed := fedtest.New(t)
			n, q := newFakeNeuron(), newMemQueue()
			link, _ := startLink(t, fed, n, q, nil)
			testutil.Eventually(t, waitLimit, "a heartbeat", func() bool { return len(fed.Heartbeats()) == 1 })
			if tc.down {
				fed.Down()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if err := link.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if q.Len() != tc.wantQueued || n.producedCount() != 1 {
				t.Errorf("%d reports queued of %d produced, want %d queued", q.Len(), n.producedCount(), tc.wantQueued)
			}
			beats := fed.Heartbeats()
			if tc.down {
				if len(beats) != 1 {
					t.Errorf("%d heartbeats, want only the first", len(beats))
				}
				return
			}
			if len(beats) != 2 || beats[1].Status != federation.StatusStopping {
				t.Errorf("heartbeats %+v, want the last with status stopping", beats)
			}
			if got := seqs(fed.Analytics()); !slices.Equal(got, []int64{1}) {
				t.Errorf("delivered %v, want the final report", got)
			}
		})
	}
}

// Stopping a Link that never registered sends nothing and keeps the final
// report queued.
func TestLink_StopUnregistered(t *testing.T) {
	fed := fedtest.New(t)
	fed.Down()
	q := newMemQueue()
	link, _ := startLink(t, fed, newFakeNeuron(), q, nil)
	if err := link.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if q.Len() != 1 {
		t.Errorf("%d reports queued, want the final one", q.Len())
	}
	if err := link.Stop(context.Background()); err != nil || q.Len() != 1 {
		t.Errorf("second Stop: %v, %d queued", err, q.Len())
	}
}

// Flush before registration queues the report and says it was not sent.
func TestLink_FlushUnregistered(t *testing.T) {
	fed := fedtest.New(t)
	fed.Down()
	q := newMemQueue()
	link, _ := startLink(t, fed, newFakeNeuron(), q, nil)
	err := link.Flush(context.Background())
	if !errors.Is(err, federation.ErrNotRegistered) || !strings.Contains(err.Error(), "queued") {
		t.Errorf("Flush = %v, want ErrNotRegistered saying the report is queued", err)
	}
	if q.Len() != 1 {
		t.Errorf("%d reports queued, want 1", q.Len())
	}
}
