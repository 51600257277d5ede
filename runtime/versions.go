package runtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/semver"

	"github.com/empirefederation/neuron/internal/archive"
	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/pins"
	"github.com/empirefederation/neuron/internal/processor"
	"github.com/empirefederation/neuron/internal/route"
)

// Rollback serves the previous version of processor name: the next lower
// version loaded from the plugins directory if there is one, else the most
// recently archived version (a version replaced or unloaded earlier; see
// Options.KeepVersions). Rolling back again goes further back. The switch
// is a swap like any other: the version it leaves finishes its calls in
// flight, and an archived version is opened, checked and self-tested
// before it takes traffic.
//
// Rollback pins name to that version until a new file for name arrives (a
// file whose digest the directory did not hold at the rollback) or Unpin.
// Pins are kept in DataDir/runtime/pins.json and honoured after a restart.
// A plugin_rolled_back event and a plugin_swapped event report it.
//
// # Errors
//
// Rollback fails, and nothing changes, when name does not serve, when
// there is no earlier version, or when the archived version does not open
// or pass its self-test (then a plugin_rejected event says why).
func (rt *Runtime) Rollback(ctx context.Context, name string) (from, to ProcessorInfo, err error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed.Load() {
		return from, to, errClosed
	}
	s := rt.srv.Current.Load()
	cur := s.Serving[name]
	if cur == nil {
		return from, to, rt.notServing("rollback", name)
	}
	target, opened, err := rt.rollbackTarget(ctx, s, cur)
	if err != nil {
		return from, to, fmt.Errorf("rollback %s: %w", name, err)
	}
	saved := rt.state.Clone()
	rt.state.SetPin(name, &pins.Pin{Version: target.version, Digest: target.digest, Known: dirDigests(s, name), Since: time.Now().UTC()})
	if _, err := rt.syncLocked(ctx, syncOpts{pinned: opened}); err != nil {
		rt.state = saved
		return from, to, fmt.Errorf("rollback %s: %w", name, err)
	}
	now := rt.srv.Current.Load()
	if p := now.Serving[name]; p == nil || p.Mod.Digest != target.digest {
		rt.state = saved
		_, _ = rt.syncLocked(ctx, syncOpts{}) // the pin did not take: serve as before it
		return from, to, fmt.Errorf("rollback %s to %s@%s: the version could not take over (see the rejection reported)", name, name, target.version)
	}
	if err := rt.state.Save(); err != nil {
		rt.log.Error("rollback pin could not be saved; a restart will serve the highest version", "plugin", name, "err", err)
	}
	from, to = processorInfo(s, cur), processorInfo(now, now.Serving[name])
	rt.log.Info("processor rolled back", "plugin", name, "from", cur.ID(), "from_digest", cur.Digest12(),
		"to", to.Name+"@"+to.Version, "to_digest", to.Digest[:modfile.DigestLabelLen], "source", target.source)
	rt.emit(Event{Type: EventPluginRolledBack, Plugin: name, Version: to.Version, Data: mustJSON(map[string]string{
		"from": cur.ID(), "to": to.Name + "@" + to.Version, "fromDigest": cur.Mod.Digest, "toDigest": to.Digest})})
	return from, to, nil
}

// rollbackTo is the version a rollback goes to.
type rollbackTo struct {
	version, digest string
	source          string // "directory" or "archive"
}

// rollbackTarget picks the version before cur: the highest loaded version
// of the directory below cur's, else the newest archived version retired
// before cur's (any archived version but cur's when cur is not from the
// archive), skipping versions loaded now. An archived version is opened here, so that a broken one fails
// the rollback before anything changes; the caller passes it to the sync.
func (rt *Runtime) rollbackTarget(ctx context.Context, s *route.Snapshot, cur *processor.Version) (rollbackTo, *processor.Version, error) {
	var best *processor.Version
	for _, p := range s.Procs {
		if p.Name() != cur.Name() || p.FromArchive || p == cur || semver.Compare("v"+p.Version(), "v"+cur.Version()) >= 0 {
			continue
		}
		if best == nil || semver.Compare("v"+p.Version(), "v"+best.Version()) > 0 {
			best = p
		}
	}
	if best != nil {
		return rollbackTo{best.Version(), best.Mod.Digest, "directory"}, nil, nil
	}
	list, err := rt.archive.List(cur.Name())
	if err != nil {
		return rollbackTo{}, nil, fmt.Errorf("read the archive: %w", err)
	}
	older := !cur.FromArchive
	loaded := func(a archive.Entry) bool {
		return slices.ContainsFunc(s.Procs, func(p *processor.Version) bool {
			return p.Name() == cur.Name() && p.Version() == a.Version && strings.HasPrefix(p.Mod.Digest, a.Digest12)
		})
	}
	for _, a := range list {
		if a.Version == cur.Version() && strings.HasPrefix(cur.Mod.Digest, a.Digest12) {
			older = true // from here on, archived before cur
			continue
		}
		if !older || loaded(a) { // a version loaded now is no earlier one
			continue
		}
		f, err := modfile.ReadFile(a.Path)
		if err != nil {
			return rollbackTo{}, nil, fmt.Errorf("archived %s: %w", a.Path, err)
		}
		p, err := processor.Open(ctx, rt.svc, f, true)
		if err != nil {
			r := Rejection{File: a.Path, Plugin: cur.Name(), Version: a.Version, Digest: f.Digest, Reason: err.Error()}
			rt.reportRejected(r, cur)
			return rollbackTo{}, nil, fmt.Errorf("archived version %s@%s does not load: %w", cur.Name(), a.Version, err)
		}
		return rollbackTo{p.Version(), p.Mod.Digest, "archive"}, p, nil
	}
	return rollbackTo{}, nil, fmt.Errorf("no earlier version: the directory has none below %s and the archive (%s) none retired before it",
		cur.Version(), rt.archive.Dir(cur.Name()))
}

// dirDigests returns the digests of the directory's files of processor
// name in s: the builds a pin of name knows.
func dirDigests(s *route.Snapshot, name string) []string {
	var ds []string
	for _, p := range s.Procs {
		if p.Name() == name && !p.FromArchive {
			ds = append(ds, p.Mod.Digest)
		}
	}
	return ds
}

// Unpin ends a pin set by Rollback: name serves its highest version again,
// and a version served from the archive for the pin is unloaded. Unpinning
// a name that is not pinned does nothing.
//
// # Errors
//
// Unpin fails when name is neither pinned nor loaded.
func (rt *Runtime) Unpin(ctx context.Context, name string) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed.Load() {
		return errClosed
	}
	if _, ok := rt.state.Pinned(name); !ok {
		if rt.srv.Current.Load().Serving[name] == nil {
			return rt.notServing("unpin", name)
		}
		return nil
	}
	rt.state.SetPin(name, nil)
	if err := rt.state.Save(); err != nil {
		rt.log.Error("unpin could not be saved; a restart would honour the pin again", "plugin", name, "err", err)
	}
	rt.log.Info("processor unpinned", "plugin", name)
	_, err := rt.syncLocked(ctx, syncOpts{})
	return err
}

// Unload stops serving every version of processor name: they leave the
// snapshot, finish their calls in flight (up to Options.DrainTimeout) and
// close, and their files are archived. name stays unloaded, after a
// restart too, until Reload(name) or a new file of name arrives. Unloading
// an unloaded name does nothing.
//
// # Errors
//
// Unload fails when name is not loaded.
func (rt *Runtime) Unload(ctx context.Context, name string) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed.Load() {
		return errClosed
	}
	if rt.state.IsUnloaded(name) {
		return nil
	}
	s := rt.srv.Current.Load()
	if s.Serving[name] == nil {
		return rt.notServing("unload", name)
	}
	rt.state.SetUnloaded(name, dirDigests(s, name))
	if err := rt.state.Save(); err != nil {
		rt.log.Error("unload could not be saved; a restart would load the processor again", "plugin", name, "err", err)
	}
	rt.log.Info("processor unloaded by request", "plugin", name)
	_, err := rt.syncLocked(ctx, syncOpts{why: map[string]string{name: "unloaded by request"}})
	return err
}

// Reload opens processor name's files again even if they are unchanged,
// through the same path as Sync: each is compiled (from the cache),
// checked, instantiated and self-tested again, and takes over from its
// current processor only if all of that passes. It clears an Unload of
// name, and retries files of name rejected before.
//
// # Errors
//
// Reload fails when name is not loaded, not unloaded and has no rejected
// file, or when a file of name is rejected (Changes says why; what served
// keeps serving).
func (rt *Runtime) Reload(ctx context.Context, name string) (Changes, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed.Load() {
		return Changes{}, errClosed
	}
	known := rt.srv.Current.Load().Serving[name] != nil || rt.state.IsUnloaded(name) ||
		slices.ContainsFunc(slices.Collect(maps.Values(rt.rejected)), func(r rejectedFile) bool { return r.plugin == name })
	if !known {
		return Changes{}, rt.notServing("reload", name)
	}
	if rt.state.IsUnloaded(name) {
		rt.state.SetUnloaded(name, nil)
		if err := rt.state.Save(); err != nil {
			rt.log.Error("reload cleared an unload that could not be saved; a restart would unload the processor again", "plugin", name, "err", err)
		}
	}
	ch, err := rt.syncLocked(ctx, syncOpts{reload: name})
	if err != nil {
		return ch, fmt.Errorf("reload %s: %w", name, err)
	}
	var reasons []string
	for _, r := range ch.Rejected {
		if r.Plugin == name {
			reasons = append(reasons, fmt.Sprintf("%s: %s", r.File, r.Reason))
		}
	}
	if len(reasons) > 0 {
		return ch, fmt.Errorf("reload %s: %d file(s) rejected, what served keeps serving: %s", name, len(reasons), strings.Join(reasons, "; "))
	}
	return ch, nil
}

// notServing is the error of a command naming a processor that does not
// serve, listing those that do.
func (rt *Runtime) notServing(op, name string) error {
	names := slices.Sorted(maps.Keys(rt.srv.Current.Load().Serving))
	list := "none"
	if len(names) > 0 {
		list = strings.Join(names, ", ")
	}
	if rt.state.IsUnloaded(name) {
		return fmt.Errorf("%s %s: the processor is unloaded; Reload it first", op, name)
	}
	return errors.New(op + " " + name + ": no processor of that name is loaded (loaded: " + list + ")")
}

// PinVersion makes version the serving version of processor name, pinned
// as Rollback pins (until a new file of name arrives, or Unpin): an
// experiment's promoted variant. The version must be loaded. Pinning the
// version serving now only records the pin.
//
// # Errors
//
// PinVersion fails, and nothing changes, when name does not serve or
// version is not loaded (the error lists the loaded versions).
func (rt *Runtime) PinVersion(ctx context.Context, name, version string) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed.Load() {
		return errClosed
	}
	s := rt.srv.Current.Load()
	if s.Serving[name] == nil {
		return rt.notServing("pin", name)
	}
	var target *processor.Version
	var loaded []string
	for _, p := range s.Procs {
		if p.Name() == name {
			loaded = append(loaded, p.Version())
			if p.Version() == version && (target == nil || s.Serving[name] == p) {
				target = p
			}
		}
	}
	if target == nil {
		return fmt.Errorf("pin %s@%s: the version is not loaded (loaded: %s)", name, version, strings.Join(loaded, ", "))
	}
	saved := rt.state.Clone()
	rt.state.SetPin(name, &pins.Pin{Version: version, Digest: target.Mod.Digest, Known: dirDigests(s, name), Since: time.Now().UTC()})
	if _, err := rt.syncLocked(ctx, syncOpts{}); err != nil {
		rt.state = saved
		return fmt.Errorf("pin %s@%s: %w", name, version, err)
	}
	if p := rt.srv.Current.Load().Serving[name]; p == nil || p.Mod.Digest != target.Mod.Digest {
		rt.state = saved
		_, _ = rt.syncLocked(ctx, syncOpts{})
		return fmt.Errorf("pin %s@%s: the version could not take over (see the rejection reported)", name, version)
	}
	if err := rt.state.Save(); err != nil {
		rt.log.Error("pin could not be saved; a restart will serve the highest version", "plugin", name, "err", err)
	}
	rt.log.Info("processor pinned", "plugin", name, "version", version)
	return nil
}
