// Package sysmetrics samples the system metrics a heartbeat reports (CPU,
// memory and disk use of the machine; CPU and resident memory of this
// process) in the background, so that building a heartbeat reads the last
// sample and never waits for one. It also describes the host: hostname,
// outbound IP, container id. It only reads the machine and this process
// (through gopsutil) and imports nothing of the neuron: the heartbeat's
// shape is internal/report's, and the agent hands report the samples.
//
// The reference client calls psutil.cpu_percent(interval=1), which blocks a
// second per heartbeat. Here CPU use is the delta of the kernel's CPU time
// counters between two samples: the same figure, measured over the
// sampling period instead of a second spent waiting.
//
// Costs (BenchmarkLatest, BenchmarkSample on a 2-vCPU Linux VM): Latest is
// one atomic load and a copy, about 15 ns; one background sample reads a
// handful of /proc files and statfs, about 0.1 ms of CPU, so the default
// period of 10 s costs about 0.001 % of one core.
package sysmetrics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/process"
)

// DefaultEvery is the sampling period when Start is given none.
const DefaultEvery = 10 * time.Second

// Sample is one measurement. Percentages are in [0, 100].
type Sample struct {
	// CPUPercent is the machine's CPU use since the previous sample (for
	// the first sample: since boot).
	CPUPercent float64
	// MemoryPercent is the share of the machine's memory in use.
	MemoryPercent float64
	// DiskPercent is the share of the disk holding the sampled path in use.
	DiskPercent float64
	// ProcessCPUPercent is this process's share of the whole machine's CPU
	// since the previous sample (for the first: since the process started),
	// on the same scale as CPUPercent.
	ProcessCPUPercent float64
	// ProcessRSS is this process's resident memory in bytes.
	ProcessRSS uint64
	// Time is when the sample was taken.
	Time time.Time
	// Err says which measurements failed, nil when all succeeded. A field
	// whose measurement failed keeps its value from the previous sample.
	Err error
}

// Sampler takes a Sample now and then in its own goroutine. Latest is safe
// to call from any goroutine; Stop ends the sampling.
type Sampler struct {
	latest atomic.Pointer[Sample]
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	// Owned by the sampling goroutine (by Start before it begins).
	diskPath string
	proc     *process.Process
	ncpu     float64
	prevCPU  cpu.TimesStat // zero before the first sample: since boot
	prevProc float64       // process CPU seconds at the previous sample
	prevTime time.Time
}

// Start takes a sample at once, so Latest has values as soon as Start
// returns, then one every `every` (DefaultEvery when not positive) until
// ctx ends or Stop is called. diskPath names the disk DiskPercent measures;
// empty means the root file system.
func Start(ctx context.Context, every time.Duration, diskPath string) *Sampler {
	if every <= 0 {
		every = DefaultEvery
	}
	if diskPath == "" {
		diskPath = rootPath()
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Sampler{cancel: cancel, done: make(chan struct{}), diskPath: diskPath}
	s.init()
	s.sample()
	go s.run(ctx, every)
	return s
}

// init finds this process and the machine's CPU count.
func (s *Sampler) init() {
	n, err := cpu.Counts(true)
	if err != nil || n < 1 {
		n = runtime.NumCPU()
	}
	s.ncpu = float64(n)
	s.prevTime = time.Now()
	p, err := process.NewProcess(int32(os.Getpid()))
	if err != nil {
		return // ProcessCPUPercent and ProcessRSS stay 0; sample reports why.
	}
	s.proc = p
	if ms, err := p.CreateTime(); err == nil {
		s.prevTime = time.UnixMilli(ms)
	}
}

// run samples every period until ctx ends.
func (s *Sampler) run(ctx context.Context, every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sample()
		}
	}
}

// Latest returns the most recent sample. It never blocks: one atomic load.
func (s *Sampler) Latest() Sample {
	if p := s.latest.Load(); p != nil {
		return *p
	}
	return Sample{}
}

// Stop ends the sampling and waits for the goroutine to exit. Latest keeps
// returning the last sample. Stop may be called more than once.
func (s *Sampler) Stop() {
	s.once.Do(func() {
		s.cancel()
		<-s.done
	})
}

// sample measures everything and publishes the result.
func (s *Sampler) sample() {
	next := s.Latest()
	next.Err = nil
	now := time.Now()
	var errs []error
	fail := func(what string, err error) { errs = append(errs, fmt.Errorf("sysmetrics: %s: %w", what, err)) }

	if t, err := cpu.Times(false); err != nil || len(t) == 0 {
		fail("cpu times", orNoData(err))
	} else {
		next.CPUPercent = busyPercent(s.prevCPU, t[0])
		s.prevCPU = t[0]
	}
	if vm, err := mem.VirtualMemory(); err != nil {
		fail("memory", err)
	} else {
		next.MemoryPercent = clamp(vm.UsedPercent)
	}
	if du, err := disk.Usage(s.diskPath); err != nil {
		fail("disk usage of "+s.diskPath, err)
	} else {
		next.DiskPercent = clamp(du.UsedPercent)
	}
	if err := s.sampleProcess(&next, now); err != nil {
		fail("process", err)
	}
	next.Time = now
	next.Err = errors.Join(errs...)
	s.latest.Store(&next)
}

// sampleProcess fills the process fields of next.
func (s *Sampler) sampleProcess(next *Sample, now time.Time) error {
	if s.proc == nil {
		return errors.New("this process could not be found in the process table")
	}
	t, err := s.proc.Times()
	if err != nil {
		return err
	}
	used := t.User + t.System
	if wall := now.Sub(s.prevTime).Seconds(); wall > 0 {
		next.ProcessCPUPercent = clamp((used - s.prevProc) / wall / s.ncpu * 100)
	}
	s.prevProc, s.prevTime = used, now
	m, err := s.proc.MemoryInfo()
	if err != nil {
		return err
	}
	next.ProcessRSS = m.RSS
	return nil
}

// busyPercent is the share of CPU time spent busy between two readings of
// the machine's counters, as psutil and gopsutil compute it: guest time is
// already part of user time on Linux, and idle and iowait are not busy.
func busyPercent(prev, cur cpu.TimesStat) float64 {
	prevAll, prevBusy := allBusy(prev)
	curAll, curBusy := allBusy(cur)
	if curAll <= prevAll || curBusy <= prevBusy {
		return 0
	}
	return clamp((curBusy - prevBusy) / (curAll - prevAll) * 100)
}

// allBusy returns the total and busy CPU seconds of t.
func allBusy(t cpu.TimesStat) (all, busy float64) {
	all = t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
	if runtime.GOOS != "linux" {
		all += t.Guest + t.GuestNice
	}
	return all, all - t.Idle - t.Iowait
}

// clamp bounds a percentage to [0, 100].
func clamp(p float64) float64 { return min(100, max(0, p)) }

// orNoData turns a nil error from a call that returned nothing into one.
func orNoData(err error) error {
	if err == nil {
		return errors.New("no data")
	}
	return err
}

// rootPath is the root of the file system holding the working directory.
func rootPath() string {
	if runtime.GOOS == "windows" {
		if d := os.Getenv("SystemDrive"); d != "" {
			return d + `\`
		}
		return `C:\`
	}
	return "/"
}
