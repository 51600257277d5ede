package runtime

// OpenWazeroRuntimes returns how many processor wazero runtimes rt made
// and has not closed yet, so that tests can prove a swap closes what it
// replaced.
func OpenWazeroRuntimes(rt *Runtime) int64 { return rt.svc.WazeroOpen.Load() }

// LiveGuestMemories returns how many guest linear memories rt holds: they
// live outside the Go heap.
func LiveGuestMemories(rt *Runtime) int64 { return rt.svc.Mem.Live() }

// PreparedModuleCount returns how many prepared modules rt's cache holds:
// its own, or the one Options.Prepared shares.
func PreparedModuleCount(rt *Runtime) int { return rt.svc.Prepared.Len() }

// DrainingProcessors returns how many processor versions left the
// snapshot and are not closed yet.
func DrainingProcessors(rt *Runtime) int {
	rt.retiredMu.Lock()
	defer rt.retiredMu.Unlock()
	return len(rt.retired)
}
