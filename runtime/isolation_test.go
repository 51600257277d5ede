package runtime_test

import (
	"testing"

	"github.com/empirefederation/neuron/runtime"
)

// TestRuntimes_ShareNoHiddenState: two runtimes of one process (tests,
// an agent next to an embedded federation) keep their prepared modules
// and count their guest memories apart, unless told to share the cache
// through Options.Prepared: a runtime serving nothing holds no prepared
// module and counts no guest memory, in LiveGuestMemories and in its
// neuron_guest_memory_bytes, while the other serves; a third given the
// first's cache sees its modules.
func TestRuntimes_ShareNoHiddenState(t *testing.T) {
	own := runtime.NewPreparedModules()
	serving := startEnv(t, runtime.Options{Prepared: own}, guests(t, "echo"))
	idle := startEnv(t, runtime.Options{Prepared: runtime.NewPreparedModules()}, nil)
	sharing := startEnv(t, runtime.Options{Prepared: own}, nil)

	if n := runtime.PreparedModuleCount(serving.rt); n != 1 {
		t.Errorf("the serving runtime's cache holds %d prepared modules, want 1 (echo)", n)
	}
	if n := runtime.PreparedModuleCount(idle.rt); n != 0 {
		t.Errorf("a runtime that loaded nothing holds %d prepared modules, want 0: another runtime's modules show in its cache", n)
	}
	if n := runtime.PreparedModuleCount(sharing.rt); n != 1 {
		t.Errorf("a runtime given the serving runtime's cache holds %d prepared modules, want its 1", n)
	}

	if n := runtime.LiveGuestMemories(serving.rt); n < 1 {
		t.Errorf("the serving runtime counts %d guest memories, want at least its pool's instance", n)
	}
	if got := serving.mustMetric("neuron_guest_memory_bytes"); got < 65536 {
		t.Errorf("the serving runtime's neuron_guest_memory_bytes = %v, want at least a page", got)
	}
	for name, e := range map[string]*env{"idle": idle, "sharing": sharing} {
		if n := runtime.LiveGuestMemories(e.rt); n != 0 {
			t.Errorf("the %s runtime counts %d guest memories, want 0: another runtime's memories show in its count", name, n)
		}
		if got := e.mustMetric("neuron_guest_memory_bytes"); got != 0 {
			t.Errorf("the %s runtime's neuron_guest_memory_bytes = %v, want 0: another runtime's memories show in it", name, got)
		}
	}
}
