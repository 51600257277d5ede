package runtime

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/mod/semver"

	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/pins"
	"github.com/empirefederation/neuron/internal/processor"
	"github.com/empirefederation/neuron/internal/route"
)

// pinnedOrder places the processors serving a pin from outside the plugins
// directory after every file of the directory in Processors.
const pinnedOrder = 1 << 30

// resolvePins finds the processor each pin names. A newly opened file of
// a pinned processor whose digest the pin did not know releases the pin.
// Otherwise the pinned version is the directory's file with its digest, or
// the current processor with it (a version from the archive, or one whose
// file left the directory while pinned: it keeps serving), or the one the
// caller opened (Rollback), or it is opened from the archive. A pin that
// none of these can honour is dropped, with a rejection saying why.
func (pl *plan) resolvePins(ctx context.Context) {
	rt := pl.rt
	used := false
	for _, name := range slices.Sorted(maps.Keys(rt.state.Pins)) {
		pin := rt.state.Pins[name]
		if p := pl.newBuild(name, pin); p != nil {
			rt.state.SetPin(name, nil)
			pl.stateChanged = true
			p.Log.Info("pin released: a new file of the processor arrived", "was_pinned_to", name+"@"+pin.Version)
			continue
		}
		if rt.state.IsUnloaded(name) || pl.has(name, pin.Digest) {
			continue
		}
		t := pl.current(name, pin.Digest)
		if t != nil && t.FromArchive && pl.o.reload == name {
			pl.leaving[t] = "reloaded"
			t = nil
		}
		if t != nil {
			delete(pl.leaving, t)
			pl.addPinned(t)
			if !t.FromArchive {
				if err := rt.archive.StoreIfMissing(t.Name(), t.Version(), t.Mod.Digest, t.File); err != nil {
					t.Log.Warn("pinned version's file left the directory and could not be archived: a restart will not find it", "err", err)
				}
			}
			continue
		}
		if p := pl.o.pinned; p != nil && p.Name() == name && p.Mod.Digest == pin.Digest {
			used = true
			pl.addPinned(p)
			continue
		}
		p, err := rt.openArchived(ctx, name, pin)
		if err != nil && ctx.Err() != nil {
			return // interrupted: the sync is abandoned, the pin stays
		}
		if err != nil {
			pl.reject(Rejection{File: rt.archive.Path(name, pin.Version, pin.Digest), Plugin: name, Version: pin.Version,
				Digest: pin.Digest, Reason: "pinned version cannot be served, pin dropped: " + err.Error()}, nil)
			rt.state.SetPin(name, nil)
			pl.stateChanged = true
			continue
		}
		pl.addPinned(p)
	}
	if pl.o.pinned != nil && !used {
		_ = pl.o.pinned.Close(ctx)
	}
}

// newBuild returns a processor opened by this sync for name with a digest
// pin does not know, or nil.
func (pl *plan) newBuild(name string, pin pins.Pin) *processor.Version {
	for _, p := range pl.opened {
		if p.Name() == name && !slices.Contains(pin.Known, p.Mod.Digest) {
			return p
		}
	}
	return nil
}

// has reports whether the directory's processors of the next snapshot
// include name with digest.
func (pl *plan) has(name, digest string) bool {
	match := func(p *processor.Version) bool { return p.Name() == name && p.Mod.Digest == digest }
	return slices.ContainsFunc(pl.kept, match) || slices.ContainsFunc(pl.opened, match)
}

// current returns the current processor of name with digest, if any.
func (pl *plan) current(name, digest string) *processor.Version {
	for _, p := range pl.old.Procs {
		if p.Name() == name && p.Mod.Digest == digest {
			return p
		}
	}
	return nil
}

func (pl *plan) addPinned(p *processor.Version) {
	pl.order[p] = pinnedOrder + len(pl.pinned)
	pl.pinned = append(pl.pinned, p)
}

// openArchived opens the archived file of a pinned version.
func (rt *Runtime) openArchived(ctx context.Context, name string, pin pins.Pin) (*processor.Version, error) {
	path := rt.archive.Path(name, pin.Version, pin.Digest)
	f, err := modfile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("archived file: %w", err)
	}
	if f.Digest != pin.Digest {
		return nil, fmt.Errorf("archived file %s has sha256 %s, not the pinned %s", path, f.Digest, pin.Digest)
	}
	return processor.Open(ctx, rt.svc, f, true)
}

// snapshot builds the next snapshot. Routes are claimed first by the
// processors that stay, then by pinned versions, then by new files in file
// order: a new file colliding with another processor's routes is rejected
// and the version it would replace stays, so a bad drop never takes
// routes away from what serves. Of several versions of one processor the
// pinned one serves, else the highest (the earlier file on a tie).
func (pl *plan) snapshot(ctx context.Context) *route.Snapshot {
	rt := pl.rt
	owners := map[string]*processor.Version{}
	var members []*processor.Version
	claim := func(p *processor.Version) error {
		err := route.ClaimRoutes(owners, p)
		if err == nil {
			members = append(members, p)
		}
		return err
	}
	for _, p := range pl.kept {
		if err := claim(p); err != nil { // they served together: cannot happen
			pl.leaving[p] = err.Error()
		}
	}
	for _, p := range pl.pinned {
		if err := claim(p); err != nil {
			pl.reject(Rejection{File: p.File.Path, Plugin: p.Name(), Version: p.Version(), Digest: p.Mod.Digest,
				Reason: "pinned version cannot be served, pin dropped: " + err.Error()}, nil)
			rt.state.SetPin(p.Name(), nil)
			pl.stateChanged = true
			pl.drop(ctx, p, err.Error())
		}
	}
	slices.SortStableFunc(pl.opened, func(a, b *processor.Version) int { return cmp.Compare(pl.order[a], pl.order[b]) })
	for _, p := range pl.opened {
		err := claim(p)
		if err == nil {
			continue
		}
		cur := pl.replaces[p]
		rej := rejectedFile{fp: p.File.Fingerprint(), plugin: p.Name()}
		if rc, ok := err.(*route.Collision); ok && cur == nil {
			rej.blocker = blockerKey(rc.Owner)
		}
		rt.rejected[p.File.Path] = rej
		pl.reject(Rejection{File: p.File.Path, Plugin: p.Name(), Version: p.Version(), Digest: p.Mod.Digest, Reason: err.Error()}, cur)
		_ = p.Close(ctx)
		if cur != nil && !rt.state.IsUnloaded(cur.Name()) {
			delete(pl.leaving, cur)
			pl.order[cur] = pl.order[p]
			if err := claim(cur); err != nil {
				pl.leaving[cur] = err.Error()
			}
		}
	}
	slices.SortStableFunc(members, func(a, b *processor.Version) int { return cmp.Compare(pl.order[a], pl.order[b]) })
	s := &route.Snapshot{Procs: members, Serving: map[string]*processor.Version{}, Pinned: map[string]bool{}, Experiments: rt.experiments}
	for _, p := range members {
		if cur := s.Serving[p.Name()]; cur == nil || semver.Compare("v"+p.Version(), "v"+cur.Version()) > 0 {
			s.Serving[p.Name()] = p
		}
	}
	for name, pin := range rt.state.Pins {
		if i := slices.IndexFunc(members, func(p *processor.Version) bool { return p.Name() == name && p.Mod.Digest == pin.Digest }); i >= 0 {
			s.Serving[name], s.Pinned[name] = members[i], true
		}
	}
	s = rt.srv.Snapshot(s)
	return s
}

// drop takes a processor out of the plan: a current one leaves, a new one
// is closed.
func (pl *plan) drop(ctx context.Context, p *processor.Version, why string) {
	if slices.Contains(pl.old.Procs, p) {
		pl.leaving[p] = why
		return
	}
	_ = p.Close(ctx)
}

// publish switches to s, retires the processors that left, and reports
// what changed: Changes, events, logs and the archive.
func (rt *Runtime) publish(pl *plan, s *route.Snapshot, took time.Duration) {
	old := pl.old
	var leaving []*processor.Version
	for _, p := range old.Procs {
		if !slices.Contains(s.Procs, p) {
			leaving = append(leaving, p)
		}
	}
	rt.srv.Current.Store(s)
	rt.loaded.Store(true)
	for _, p := range leaving {
		rt.retire(p)
	}
	ch := &pl.changes
	for _, p := range s.Procs {
		if slices.Contains(old.Procs, p) {
			continue
		}
		ch.Loaded = append(ch.Loaded, processorInfo(s, p))
		p.Log.Info("processor loaded", "endpoints", len(p.Mod.Manifest.Endpoints), "pool_min", p.Limits.PoolMin,
			"serving", s.Serving[p.Name()] == p, "code", p.CodeSource(), "took", p.LoadTook.Round(time.Millisecond))
		rt.emit(Event{Type: EventPluginLoaded, Plugin: p.Name(), Version: p.Version(), Data: mustJSON(map[string]any{
			"digest": p.Mod.Digest, "file": filepath.Base(p.File.Path), "serving": s.Serving[p.Name()] == p})})
	}
	for _, name := range slices.Sorted(maps.Keys(s.Serving)) {
		from, to := old.Serving[name], s.Serving[name]
		if from == nil || from == to {
			continue
		}
		ch.Swapped = append(ch.Swapped, processorInfo(s, to))
		to.Log.Info("processor swapped", "from", from.ID(), "from_digest", from.Digest12(), "took", took.Round(time.Millisecond))
		rt.emit(Event{Type: EventPluginSwapped, Plugin: name, Version: to.Version(), Data: mustJSON(map[string]string{
			"from": from.ID(), "to": to.ID(), "fromDigest": from.Mod.Digest, "toDigest": to.Mod.Digest})})
	}
	for _, p := range leaving {
		why := cmp.Or(pl.leaving[p], pl.o.why[p.Name()])
		switch {
		case why == "" && p.FromArchive:
			why = "no longer pinned"
		case why == "":
			why = "no longer needed"
		}
		ch.Unloaded = append(ch.Unloaded, processorInfo(old, p))
		p.Log.Info("processor unloaded; it finishes its calls in flight, then closes", "reason", why,
			"in_flight", p.Inflight.Load(), "drain_timeout", rt.opts.DrainTimeout)
		rt.emit(Event{Type: EventPluginUnloaded, Plugin: p.Name(), Version: p.Version(), Data: mustJSON(map[string]string{
			"version": p.Version(), "digest": p.Mod.Digest, "reason": why})})
	}
	rt.archiveLeaving(old, leaving)
	if pl.stateChanged {
		if err := rt.state.Save(); err != nil {
			rt.log.Error("pins and unloads changed but could not be saved; a restart may not honour them", "err", err)
		}
	}
	if !ch.Empty() {
		rt.log.Info("serving processors", "processors", s.Describe(), "dir", rt.opts.PluginsDir,
			"loaded", len(ch.Loaded), "swapped", len(ch.Swapped), "unloaded", len(ch.Unloaded), "rejected", len(ch.Rejected),
			"took", took.Round(time.Millisecond))
	}
}

// archiveLeaving archives the versions that left, those that served last
// so that they count as the most recently retired, and trims the archive
// of each name.
func (rt *Runtime) archiveLeaving(old *route.Snapshot, leaving []*processor.Version) {
	served := func(p *processor.Version) int {
		if old.Serving[p.Name()] == p {
			return 1
		}
		return 0
	}
	leaving = slices.Clone(leaving)
	slices.SortStableFunc(leaving, func(a, b *processor.Version) int { return cmp.Compare(served(a), served(b)) })
	names := map[string]bool{}
	for _, p := range leaving {
		names[p.Name()] = true
		if err := rt.archive.Store(p.Name(), p.Version(), p.Mod.Digest, p.File); err != nil {
			p.Log.Warn("could not archive the version: Rollback will not find it", "err", err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		pin, pinned := rt.state.Pinned(name)
		if err := rt.archive.Trim(name, pin, pinned); err != nil {
			rt.log.Warn("could not trim the archive", "plugin", name, "err", err)
		}
	}
}
