package sysmetrics

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/shirou/gopsutil/v4/cpu"
)

func TestStartSamplesAtOnce(t *testing.T) {
	s := Start(t.Context(), time.Hour, t.TempDir())
	defer s.Stop()
	got := s.Latest()
	if got.Err != nil {
		t.Fatalf("first sample failed: %v", got.Err)
	}
	if got.Time.IsZero() {
		t.Fatal("Latest right after Start has no sample")
	}
	checkRanges(t, got)
	if got.MemoryPercent == 0 || got.DiskPercent == 0 {
		t.Errorf("memory %v%%, disk %v%%: a running machine uses some of both", got.MemoryPercent, got.DiskPercent)
	}
	if got.ProcessRSS < 1<<20 {
		t.Errorf("ProcessRSS = %d bytes, want at least the test binary's 1 MiB", got.ProcessRSS)
	}
}

func TestSamplesAgain(t *testing.T) {
	s := Start(t.Context(), 10*time.Millisecond, "")
	defer s.Stop()
	first := s.Latest()
	// Burn CPU in this process so the next sample has work to see.
	stop := make(chan struct{})
	go spin(stop)
	defer close(stop)
	testutil.Eventually(t, 10*time.Second, "a later sample with process CPU use", func() bool {
		cur := s.Latest()
		return cur.Time.After(first.Time) && cur.ProcessCPUPercent > 0
	})
	checkRanges(t, s.Latest())
}

func TestStop(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s := Start(ctx, time.Millisecond, "")
	cancel() // the context ends the goroutine too; Stop still returns
	s.Stop()
	s.Stop()
	if s.Latest().Time.IsZero() {
		t.Fatal("Latest after Stop lost the last sample")
	}
}

func TestFailedMeasurementIsReported(t *testing.T) {
	s := Start(t.Context(), time.Hour, "/no/such/disk/path")
	defer s.Stop()
	got := s.Latest()
	if got.Err == nil || !strings.Contains(got.Err.Error(), "/no/such/disk/path") {
		t.Fatalf("Err = %v, want one naming the disk path", got.Err)
	}
	if got.DiskPercent != 0 || got.MemoryPercent == 0 {
		t.Fatalf("disk %v%%, memory %v%%: want disk unknown (0), memory measured", got.DiskPercent, got.MemoryPercent)
	}
}

func TestBusyPercent(t *testing.T) {
	base := cpu.TimesStat{User: 100, System: 50, Idle: 800, Iowait: 50}
	tests := []struct {
		name string
		prev cpu.TimesStat
		cur  cpu.TimesStat
		want float64
	}{
		{"since boot", cpu.TimesStat{}, base, 15},
		{"half busy", base, cpu.TimesStat{User: 110, System: 55, Idle: 810, Iowait: 55}, 50},
		{"idle", base, cpu.TimesStat{User: 100, System: 50, Idle: 900, Iowait: 50}, 0},
		{"iowait is not busy", base, cpu.TimesStat{User: 100, System: 50, Idle: 800, Iowait: 60}, 0},
		{"all busy", base, cpu.TimesStat{User: 110, System: 60, Idle: 800, Iowait: 50}, 100},
		{"counters went back", base, cpu.TimesStat{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := busyPercent(tt.prev, tt.cur); got != tt.want {
				t.Fatalf("busyPercent = %v, want %v", got, tt.want)
			}
		})
	}
}

// checkRanges fails unless every percentage of s is in [0, 100].
func checkRanges(t *testing.T, s Sample) {
	t.Helper()
	for name, v := range map[string]float64{
		"CPUPercent": s.CPUPercent, "MemoryPercent": s.MemoryPercent,
		"DiskPercent": s.DiskPercent, "ProcessCPUPercent": s.ProcessCPUPercent,
	} {
		if v < 0 || v > 100 {
			t.Errorf("%s = %v, want within [0, 100]", name, v)
		}
	}
}

// spin keeps one CPU busy until stop closes.
func spin(stop <-chan struct{}) {
	for n := 0; ; n++ {
		if n%1024 == 0 {
			select {
			case <-stop:
				return
			default:
			}
		}
	}
}

// BenchmarkLatest measures what a heartbeat pays to read the metrics.
func BenchmarkLatest(b *testing.B) {
	s := Start(b.Context(), time.Hour, "")
	defer s.Stop()
	for b.Loop() {
		_ = s.Latest()
	}
}

// BenchmarkSample measures one background sample: what the sampler costs
// the process every period.
func BenchmarkSample(b *testing.B) {
	s := Start(b.Context(), time.Hour, "")
	defer s.Stop()
	for b.Loop() {
		s.sample()
	}
}
