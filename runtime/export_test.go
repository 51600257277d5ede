package runtime

// OpenWazeroRuntimes returns how many processor wazero runtimes rt made
// and has not closed yet, so that tests can prove a swap closes what it
// replaced.
func OpenWazeroRuntimes(rt *Runtime) int64 { return rt.wazeroOpen.Load() }

// LiveGuestMemories returns how many guest linear memories the process
// holds: they live outside the Go heap.
func LiveGuestMemories() int64 { return liveMemories.Load() }

// DrainingProcessors returns how many processor versions left the
// snapshot and are not closed yet.
func DrainingProcessors(rt *Runtime) int {
	rt.retiredMu.Lock()
	defer rt.retiredMu.Unlock()
	return len(rt.retired)
}
