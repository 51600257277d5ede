package testutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ProcessCPU returns the CPU time the process pid has used so far, summed
// over its threads from /proc/PID/task/TID/schedstat (nanoseconds on a
// CPU; Linux). The utime and stime of /proc/PID/stat (and gopsutil's
// process times, which read them) count in clock ticks of 10 ms, as much
// as an idle neuron uses in several seconds; schedstat counts nanoseconds.
// The Go runtime does not end its threads, so none of a Go process's time
// is lost with an exited one.
func ProcessCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	tasks := filepath.Join("/proc", strconv.Itoa(pid), "task")
	entries, err := os.ReadDir(tasks)
	if err != nil {
		tb.Fatalf("listing the threads of process %d: %v", pid, err)
	}
	var sum time.Duration
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(tasks, e.Name(), "schedstat"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread ended since ReadDir
		}
		if err != nil {
			tb.Fatalf("reading a thread's CPU time (needs a kernel with CONFIG_SCHED_INFO): %v", err)
		}
		on, _, _ := strings.Cut(string(raw), " ")
		ns, err := strconv.ParseInt(on, 10, 64)
		if err != nil {
			tb.Fatalf("%s/%s/schedstat: unexpected content %q", tasks, e.Name(), raw)
		}
		sum += time.Duration(ns)
	}
	return sum
}
