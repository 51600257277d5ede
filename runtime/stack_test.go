package runtime_test

import (
	"maps"
	"net/http"
	goruntime "runtime"
	"sync"
	"testing"

	"github.com/empirefederation/neuron/runtime"
)

// A guest's deep (but returning) calls do not keep the host's heap: wazero
// grows a function handle's call stack to some 40 MB for each, on the Go
// heap, and never shrinks it; the host replaces a handle whose stack grew
// past 1 MiB after its call, so that the heap returns to its baseline
// (four such stacks kept for the instances' lifetime took it from 66 to
// 657 MB). What the live handles hold is neuron_guest_stack_bytes, and the
// handles replaced neuron_guest_stack_resets_total, both attributed to the
// processor; its neighbour keeps answering.
func TestStack_DeepCallsReleaseTheHeap(t *testing.T) {
	const instances, rounds = 4, 3
	files := watPlugin(t, "deep", "deep", `{"poolMin":4,"poolMax":4}`, "deep", "medium", "handle")
	maps.Copy(files, watPlugin(t, "healthy", "ok", "", "handle"))
	e := startEnv(t, runtime.Options{}, files)
	stack := func(plugin string) float64 { return e.mustMetric("neuron_guest_stack_bytes", "plugin", plugin) }
	resets := func(plugin string) float64 { return e.mustMetric("neuron_guest_stack_resets_total", "plugin", plugin) }

	// A stack below the threshold is kept, and counted.
	before := stack("deep")
	if r := e.get("/w/deep/medium"); r.status != http.StatusOK {
		t.Fatalf("medium: status %d", r.status)
	}
	if grew := stack("deep") - before; grew < 100<<10 {
		t.Errorf("neuron_guest_stack_bytes{deep} grew by %.0f bytes after a 4,000-deep call, want the stack it keeps", grew)
	}

	baseline := heapInUse()
	for range rounds {
		var wg sync.WaitGroup
		for range instances {
			wg.Go(func() {
				if r, err := e.send(t.Context(), "GET", "/w/deep/deep", nil); err != nil || r.status != http.StatusOK {
					t.Errorf("deep: status %d, %v", r.status, err)
				}
			})
		}
		wg.Wait()
		if r := e.get("/w/healthy/handle"); r.status != http.StatusOK {
			t.Errorf("healthy: status %d between the deep calls", r.status)
		}
	}
	if grew := heapInUse() - baseline; grew > 32<<20 {
		t.Errorf("the heap grew by %d MB after %d deep calls and stays: the call stacks are kept", grew>>20, rounds*instances)
	}
	if got := resets("deep"); got != rounds*instances {
		t.Errorf("neuron_guest_stack_resets_total{deep} = %v, want one per deep call (%d)", got, rounds*instances)
	}
	// Four instances, each with a handle of deep, medium, handle and alloc,
	// at most 1 MiB each.
	if got := stack("deep"); got <= 0 || got > instances*4<<20 {
		t.Errorf("neuron_guest_stack_bytes{deep} = %v, want more than 0 and at most %d", got, instances*4<<20)
	}
	if got := resets("healthy"); got != 0 {
		t.Errorf("neuron_guest_stack_resets_total{healthy} = %v, want 0", got)
	}
}

// heapInUse collects garbage and returns the bytes of live heap.
func heapInUse() int64 {
	goruntime.GC()
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
