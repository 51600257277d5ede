package runtime

// Resources counts what a Runtime holds open now. Every processor version
// loaded has one wazero runtime (its compiled module and instances), and a
// version that left the snapshot keeps its own until its calls in flight
// end; so once swaps settle, WazeroRuntimes equals Loaded and Draining is
// zero. A difference that lasts is a leak: compiled code lives outside the
// Go heap, where no heap profile shows it. The runtimes of versions that
// closed cleanly may be kept, with no instance, for a later version of the
// same file to take over; they are counted apart, in KeptRuntimes, which
// has a fixed bound.
type Resources struct {
	// Loaded is how many processor versions the current snapshot holds
	// (serving and standing by).
	Loaded int `json:"loaded"`
	// WazeroRuntimes is how many wazero runtimes processor versions own,
	// draining versions' included.
	WazeroRuntimes int `json:"wazeroRuntimes"`
	// KeptRuntimes is how many wazero runtimes of closed versions are kept
	// for reuse: at most 4, each closed after 10 minutes unused.
	KeptRuntimes int `json:"keptRuntimes"`
	// Draining is how many versions left the snapshot and are not closed yet.
	Draining int `json:"draining"`
	// Instances is how many live pool instances the loaded versions have
	// (what Workers lists).
	Instances int `json:"instances"`
}

// Resources returns what the runtime holds open now, for swap and leak
// checks (tests, benchmarks, debugging). The counts are read one after the
// other, not atomically: during a swap they may disagree for a moment.
func (rt *Runtime) Resources() Resources {
	s := rt.srv.Current.Load()
	r := Resources{WazeroRuntimes: int(rt.svc.WazeroOpen.Load()), KeptRuntimes: rt.svc.Kept.Len()}
	if s != nil {
		r.Loaded = len(s.Procs)
		for _, p := range s.Procs {
			r.Instances += len(p.LiveInstances())
		}
	}
	rt.retiredMu.Lock()
	r.Draining = len(rt.retired)
	rt.retiredMu.Unlock()
	return r
}
