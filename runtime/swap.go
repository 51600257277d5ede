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
			p.log.Info("pin released: a new file of the processor arrived", "was_pinned_to", name+"@"+pin.Version)
			continue
		}
		if rt.state.IsUnloaded(name) || pl.has(name, pin.Digest) {
			continue
		}
		t := pl.current(name, pin.Digest)
		if t != nil && t.fromArchive && pl.o.reload == name {
			pl.leaving[t] = "reloaded"
			t = nil
		}
		if t != nil {
			delete(pl.leaving, t)
			pl.addPinned(t)
			if !t.fromArchive {
				if err := rt.archiveIfMissing(t); err != nil {
					t.log.Warn("pinned version's file left the directory and could not be archived: a restart will not find it", "err", err)
				}
			}
			continue
		}
		if p := pl.o.pinned; p != nil && p.name() == name && p.mod.Digest == pin.Digest {
			used = true
			pl.addPinned(p)
			continue
		}
		p, err := rt.openArchived(ctx, name, pin)
		if err != nil && ctx.Err() != nil {
			return // interrupted: the sync is abandoned, the pin stays
		}
		if err != nil {
			pl.reject(Rejection{File: rt.archivePath(name, pin.Version, pin.Digest), Plugin: name, Version: pin.Version,
				Digest: pin.Digest, Reason: "pinned version cannot be served, pin dropped: " + err.Error()}, nil)
			rt.state.SetPin(name, nil)
			pl.stateChanged = true
			continue
		}
		pl.addPinned(p)
	}
	if pl.o.pinned != nil && !used {
		_ = pl.o.pinned.close(ctx)
	}
}

// newBuild returns a processor opened by this sync for name with a digest
// pin does not know, or nil.
func (pl *plan) newBuild(name string, pin pins.Pin) *processor {
	for _, p := range pl.opened {
		if p.name() == name && !slices.Contains(pin.Known, p.mod.Digest) {
			return p
		}
	}
	return nil
}

// has reports whether the directory's processors of the next snapshot
// include name with digest.
func (pl *plan) has(name, digest string) bool {
	match := func(p *processor) bool { return p.name() == name && p.mod.Digest == digest }
	return slices.ContainsFunc(pl.kept, match) || slices.ContainsFunc(pl.opened, match)
}

// current returns the current processor of name with digest, if any.
func (pl *plan) current(name, digest string) *processor {
	for _, p := range pl.old.procs {
		if p.name() == name && p.mod.Digest == digest {
			return p
		}
	}
	return nil
}

func (pl *plan) addPinned(p *processor) {
	pl.order[p] = pinnedOrder + len(pl.pinned)
	pl.pinned = append(pl.pinned, p)
}

// openArchived opens the archived file of a pinned version.
func (rt *Runtime) openArchived(ctx context.Context, name string, pin pins.Pin) (*processor, error) {
	path := rt.archivePath(name, pin.Version, pin.Digest)
	f, err := modfile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("archived file: %w", err)
	}
	if f.Digest != pin.Digest {
		return nil, fmt.Errorf("archived file %s has sha256 %s, not the pinned %s", path, f.Digest, pin.Digest)
	}
	return rt.openProcessor(ctx, f, true)
}

// snapshot builds the next snapshot. Routes are claimed first by the
// processors that stay, then by pinned versions, then by new files in file
// order: a new file colliding with another processor's routes is rejected
// and the version it would replace stays, so a bad drop never takes
// routes away from what serves. Of several versions of one processor the
// pinned one serves, else the highest (the earlier file on a tie).
func (pl *plan) snapshot(ctx context.Context) *snapshot {
	rt := pl.rt
	owners := map[string]*processor{}
	var members []*processor
	claim := func(p *processor) error {
		err := claimRoutes(owners, p)
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
			pl.reject(Rejection{File: p.file.Path, Plugin: p.name(), Version: p.version(), Digest: p.mod.Digest,
				Reason: "pinned version cannot be served, pin dropped: " + err.Error()}, nil)
			rt.state.SetPin(p.name(), nil)
			pl.stateChanged = true
			pl.drop(ctx, p, err.Error())
		}
	}
	slices.SortStableFunc(pl.opened, func(a, b *processor) int { return cmp.Compare(pl.order[a], pl.order[b]) })
	for _, p := range pl.opened {
		err := claim(p)
		if err == nil {
			continue
		}
		cur := pl.replaces[p]
		rej := rejectedFile{fp: p.file.Fingerprint(), plugin: p.name()}
		if rc, ok := err.(*routeCollision); ok && cur == nil {
			rej.blocker = blockerKey(rc.owner)
		}
		rt.rejected[p.file.Path] = rej
		pl.reject(Rejection{File: p.file.Path, Plugin: p.name(), Version: p.version(), Digest: p.mod.Digest, Reason: err.Error()}, cur)
		_ = p.close(ctx)
		if cur != nil && !rt.state.IsUnloaded(cur.name()) {
			delete(pl.leaving, cur)
			pl.order[cur] = pl.order[p]
			if err := claim(cur); err != nil {
				pl.leaving[cur] = err.Error()
			}
		}
	}
	slices.SortStableFunc(members, func(a, b *processor) int { return cmp.Compare(pl.order[a], pl.order[b]) })
	s := &snapshot{procs: members, serving: map[string]*processor{}, pinned: map[string]bool{}, experiments: rt.experiments}
	for _, p := range members {
		if cur := s.serving[p.name()]; cur == nil || semver.Compare("v"+p.version(), "v"+cur.version()) > 0 {
			s.serving[p.name()] = p
		}
	}
	for name, pin := range rt.state.Pins {
		if i := slices.IndexFunc(members, func(p *processor) bool { return p.name() == name && p.mod.Digest == pin.Digest }); i >= 0 {
			s.serving[name], s.pinned[name] = members[i], true
		}
	}
	s.router = s.newRouter(rt)
	return s
}

// drop takes a processor out of the plan: a current one leaves, a new one
// is closed.
func (pl *plan) drop(ctx context.Context, p *processor, why string) {
	if slices.Contains(pl.old.procs, p) {
		pl.leaving[p] = why
		return
	}
	_ = p.close(ctx)
}

// publish switches to s, retires the processors that left, and reports
// what changed: Changes, events, logs and the archive.
func (rt *Runtime) publish(pl *plan, s *snapshot, took time.Duration) {
	old := pl.old
	var leaving []*processor
	for _, p := range old.procs {
		if !slices.Contains(s.procs, p) {
			leaving = append(leaving, p)
		}
	}
	rt.current.Store(s)
	rt.loaded.Store(true)
	for _, p := range leaving {
		rt.retire(p)
	}
	ch := &pl.changes
	for _, p := range s.procs {
		if slices.Contains(old.procs, p) {
			continue
		}
		ch.Loaded = append(ch.Loaded, s.info(p))
		p.log.Info("processor loaded", "endpoints", len(p.mod.Manifest.Endpoints), "pool_min", p.limits.PoolMin,
			"serving", s.serving[p.name()] == p, "code", p.codeSource(), "took", p.loadTook.Round(time.Millisecond))
		rt.emit(Event{Type: EventPluginLoaded, Plugin: p.name(), Version: p.version(), Data: mustJSON(map[string]any{
			"digest": p.mod.Digest, "file": filepath.Base(p.file.Path), "serving": s.serving[p.name()] == p})})
	}
	for _, name := range slices.Sorted(maps.Keys(s.serving)) {
		from, to := old.serving[name], s.serving[name]
		if from == nil || from == to {
			continue
		}
		ch.Swapped = append(ch.Swapped, s.info(to))
		to.log.Info("processor swapped", "from", from.id(), "from_digest", from.digest12(), "took", took.Round(time.Millisecond))
		rt.emit(Event{Type: EventPluginSwapped, Plugin: name, Version: to.version(), Data: mustJSON(map[string]string{
			"from": from.id(), "to": to.id(), "fromDigest": from.mod.Digest, "toDigest": to.mod.Digest})})
	}
	for _, p := range leaving {
		why := cmp.Or(pl.leaving[p], pl.o.why[p.name()])
		switch {
		case why == "" && p.fromArchive:
			why = "no longer pinned"
		case why == "":
			why = "no longer needed"
		}
		ch.Unloaded = append(ch.Unloaded, old.info(p))
		p.log.Info("processor unloaded; it finishes its calls in flight, then closes", "reason", why,
			"in_flight", p.inflight.Load(), "drain_timeout", rt.opts.DrainTimeout)
		rt.emit(Event{Type: EventPluginUnloaded, Plugin: p.name(), Version: p.version(), Data: mustJSON(map[string]string{
			"version": p.version(), "digest": p.mod.Digest, "reason": why})})
	}
	rt.archiveLeaving(old, leaving)
	if pl.stateChanged {
		if err := rt.state.Save(); err != nil {
			rt.log.Error("pins and unloads changed but could not be saved; a restart may not honour them", "err", err)
		}
	}
	if !ch.Empty() {
		rt.log.Info("serving processors", "processors", s.describe(), "dir", rt.opts.PluginsDir,
			"loaded", len(ch.Loaded), "swapped", len(ch.Swapped), "unloaded", len(ch.Unloaded), "rejected", len(ch.Rejected),
			"took", took.Round(time.Millisecond))
	}
}

// archiveLeaving archives the versions that left, those that served last
// so that they count as the most recently retired, and trims the archive
// of each name.
func (rt *Runtime) archiveLeaving(old *snapshot, leaving []*processor) {
	served := func(p *processor) int {
		if old.serving[p.name()] == p {
			return 1
		}
		return 0
	}
	leaving = slices.Clone(leaving)
	slices.SortStableFunc(leaving, func(a, b *processor) int { return cmp.Compare(served(a), served(b)) })
	names := map[string]bool{}
	for _, p := range leaving {
		names[p.name()] = true
		if err := rt.archive(p); err != nil {
			p.log.Warn("could not archive the version: Rollback will not find it", "err", err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if err := rt.trimArchive(name); err != nil {
			rt.log.Warn("could not trim the archive", "plugin", name, "err", err)
		}
	}
}
