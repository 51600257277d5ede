package runtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"sync"
	"time"

	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/processor"
	"github.com/empirefederation/neuron/internal/route"
)

// Changes is what one Sync, Reload, Rollback, Unpin or Unload changed.
// A processor version may be in Loaded and Swapped both: opened, and
// taking over its name from another version.
type Changes struct {
	// Loaded are the processor versions opened by this change that now
	// take part in the snapshot, serving or standing by.
	Loaded []ProcessorInfo `json:"loaded,omitempty"`
	// Swapped are the versions that took over a processor name's routes
	// from another version (a newer file, a rollback, a removed file).
	Swapped []ProcessorInfo `json:"swapped,omitempty"`
	// Unloaded are the versions that left the snapshot. They finish their
	// calls in flight (up to Options.DrainTimeout), then close.
	Unloaded []ProcessorInfo `json:"unloaded,omitempty"`
	// Rejected are the files that could not be loaded; the version each
	// would have replaced, if any, keeps serving.
	Rejected []Rejection `json:"rejected,omitempty"`
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool {
	return len(c.Loaded)+len(c.Swapped)+len(c.Unloaded)+len(c.Rejected) == 0
}

// Rejection is a processor file that could not be loaded, and why.
type Rejection struct {
	// File is the module's path.
	File string `json:"file"`
	// Plugin and Version are the processor's, empty when its manifest
	// could not be read.
	Plugin  string `json:"plugin,omitempty"`
	Version string `json:"version,omitempty"`
	// Digest is the module's hex sha256, empty when it could not be read.
	Digest string `json:"sha256,omitempty"`
	// Reason says what failed and what to do about it.
	Reason string `json:"reason"`
	// err is the failure Reason comes from, when there was one.
	err error
}

// errClosed is returned by every change after Close.
var errClosed = errors.New("runtime closed")

// Sync makes the runtime serve what the plugins directory (and
// Options.SourcesDir) holds now: the one swap path behind every trigger
// (a file watcher, a command, a configuration change, a pull from a
// registry).
//
// A file whose path, sha256 and sidecar manifest are unchanged keeps its
// processor: no reload, no new pool. A new or changed file is opened:
// compiled (the compilation cache makes a known module cheap, and the
// compiled module of a version with the same contents retired moments
// before is taken over as it is), checked against the ABI and its manifest
// validated, the pool's minimum instantiated, and its self-test export
// (abi.ExportSelfTest) run. Only a file that passes every step takes part
// in the new snapshot, which is published with one atomic store; requests
// never wait for a Sync. A file that fails is rejected (a plugin_rejected
// event and a log line say why) and the version it would replace keeps
// serving; the same bytes are not tried again until they change or Reload
// names their processor.
//
// Versions no longer in the snapshot (file removed or replaced) take no
// new call from the switch on, finish their calls in flight in the
// background (bounded by Options.DrainTimeout; past it the calls are
// interrupted and answer 503 unloaded), then close; their files are
// archived for Rollback. Sync does not wait for the drains.
//
// Of several versions of one processor the highest serves, unless a
// Rollback pinned another; the others stand by. A file whose routes
// collide with a different processor's is rejected, the processor already
// serving them winning (the earlier file in name order when both are new).
//
// # Errors
//
// Sync fails only when the directory cannot be read, the runtime is
// closed (Close interrupts a sync in progress) or ctx ends before the new
// snapshot is built; then nothing changes. Rejected files are in Changes.
func (rt *Runtime) Sync(ctx context.Context) (Changes, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed.Load() {
		return Changes{}, errClosed
	}
	return rt.syncLocked(ctx, syncOpts{})
}

// syncOpts is what a command asks of a sync beyond following the directory.
type syncOpts struct {
	// reload names a processor whose files are opened again even if
	// unchanged, and whose remembered rejections are retried (Reload).
	reload string
	// pinned is a processor the caller opened from the archive to honour a
	// new pin (Rollback); the sync uses it or closes it.
	pinned *processor.Version
	// why says, by processor name, why its versions leave (Unload).
	why map[string]string
}

// rejectedFile is a file that failed to load, remembered so that it is not
// tried again while its content stays the same.
type rejectedFile struct {
	fp     modfile.Fingerprint
	plugin string // the processor's name, when its manifest was read
	// blocker identifies the processor whose routes the file collided
	// with (its path and digest), "" for other failures: the file is tried
	// again once that processor leaves.
	blocker string
}

// blockerKey identifies a processor for rejectedFile.blocker.
func blockerKey(p *processor.Version) string { return p.File.Path + "\x00" + p.Mod.Digest }

// syncLocked is Sync under rt.mu.
func (rt *Runtime) syncLocked(ctx context.Context, o syncOpts) (Changes, error) {
	start := time.Now()
	files, err := rt.opts.processorFiles()
	if err != nil {
		if o.pinned != nil {
			_ = o.pinned.Close(ctx)
		}
		return Changes{}, err
	}
	// Close cancels the sync it waits for: guest code starting an
	// instance stops at once, rather than at its start timeout.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(rt.bg, cancel)()
	pl := &plan{rt: rt, o: o, old: rt.srv.Current.Load(), leaving: map[*processor.Version]string{},
		replaces: map[*processor.Version]*processor.Version{}, order: map[*processor.Version]int{}}
	pl.scan(ctx, files)
	if ctx.Err() == nil {
		pl.resolvePins(ctx)
	}
	if err := ctx.Err(); err != nil {
		pl.abandon(ctx)
		if rt.bg.Err() != nil {
			return pl.changes, errClosed
		}
		return pl.changes, fmt.Errorf("sync interrupted, nothing changed: %w", err)
	}
	s := pl.snapshot(ctx)
	rt.publish(pl, s, time.Since(start))
	return pl.changes, nil
}

// abandon closes what a sync interrupted before its snapshot opened: the
// current snapshot keeps serving, unchanged.
func (pl *plan) abandon(ctx context.Context) {
	for _, p := range slices.Concat(pl.opened, pl.pinned, []*processor.Version{pl.o.pinned}) {
		if p != nil && !slices.Contains(pl.old.Procs, p) {
			_ = p.Close(ctx)
		}
	}
}

// plan is one sync in progress: the processors of the next snapshot and
// what happens to those of the current one.
type plan struct {
	rt  *Runtime
	o   syncOpts
	old *route.Snapshot
	// kept are current processors that stay (unchanged files, or files
	// whose replacement failed), in file order; opened are new ones, in
	// file order; pinned are processors that serve a pin from outside the
	// directory (opened from the archive, or kept after their file left).
	kept, opened, pinned []*processor.Version
	// replaces maps an opened processor to the current one at its path.
	replaces map[*processor.Version]*processor.Version
	// leaving maps the current processors that leave to why.
	leaving map[*processor.Version]string
	// order is each processor's position for Processors: file order, then
	// processors from outside the directory.
	order        map[*processor.Version]int
	changes      Changes
	stateChanged bool
}

// scan reads every file of the directory and decides, for each, whether
// its processor stays, is replaced by a newly opened one, or leaves. The
// files to open are opened concurrently (see openAll), so that a file slow
// to start delays the others by at most its start timeout, not the sum of
// them; the results are then settled one file at a time in file order,
// exactly as if they had been opened in turn. See docs/design.md, "Why
// does a sync open its files concurrently?".
func (pl *plan) scan(ctx context.Context, files []string) {
	rt := pl.rt
	byPath := map[string]*processor.Version{}
	for _, p := range pl.old.Procs {
		if !p.FromArchive {
			byPath[p.File.Path] = p
		}
	}
	var blocked []int // files rejected for a collision: tried once the scan knows who stays
	var scans []*fileScan
	for i, path := range files {
		cur := byPath[path]
		delete(byPath, path)
		if rej, ok := rt.rejected[path]; ok && rej.blocker != "" && cur == nil {
			blocked = append(blocked, i)
			continue
		}
		scans = append(scans, pl.read(i, path, cur))
	}
	pl.openAll(ctx, scans)
	for _, fs := range scans {
		p, keepCur := pl.settle(ctx, fs)
		cur := fs.cur
		switch {
		case p != nil:
			pl.order[p] = fs.i
			pl.opened = append(pl.opened, p)
			if cur != nil {
				pl.replaces[p] = cur
				pl.leaving[cur] = fmt.Sprintf("replaced by %s (%s) from %s", p.ID(), p.Digest12(), filepath.Base(fs.path))
				if cur.File.Fingerprint() == p.File.Fingerprint() {
					pl.leaving[cur] = "reloaded"
				}
			}
		case cur != nil && keepCur:
			pl.order[cur] = fs.i
			pl.keep(cur)
		}
	}
	for path, cur := range byPath {
		pl.leaving[cur] = "file " + filepath.Base(path) + " removed"
		delete(rt.rejected, path)
	}
	scans = scans[:0]
	for _, i := range blocked {
		path := files[i]
		staying := func(p *processor.Version) bool {
			return blockerKey(p) == rt.rejected[path].blocker && pl.leaving[p] == ""
		}
		if slices.ContainsFunc(pl.old.Procs, staying) {
			continue // still blocked, and reported when it was first
		}
		delete(rt.rejected, path)
		scans = append(scans, pl.read(i, path, nil))
	}
	pl.openAll(ctx, scans)
	for _, fs := range scans {
		if p, _ := pl.settle(ctx, fs); p != nil {
			pl.order[p] = fs.i
			pl.opened = append(pl.opened, p)
		}
	}
	for path := range rt.rejected {
		if !slices.Contains(files, path) {
			delete(rt.rejected, path)
		}
	}
}

// fileScan is one file of a scan: as read, and, when it needs opening,
// the processor opened for it or why that failed.
type fileScan struct {
	i    int // position in file order
	path string
	cur  *processor.Version // the current processor of the file, if any
	f    *modfile.File
	fp   modfile.Fingerprint
	err  error // reading the file failed
	// opened and openErr are openAll's result; tried says it opened the
	// file, and settle takes the result (or closes what it no longer
	// needs).
	opened  *processor.Version
	openErr error
	tried   bool
}

// read reads the file at position i and path, whose current processor is
// cur.
func (pl *plan) read(i int, path string, cur *processor.Version) *fileScan {
	fs := &fileScan{i: i, path: path, cur: cur}
	fs.f, fs.err = modfile.ReadFile(path)
	if fs.f != nil {
		fs.fp = fs.f.Fingerprint()
	} else {
		fs.fp = modfile.Fingerprint{Digest: "unreadable: " + fs.err.Error()}
	}
	return fs
}

// fileVerdict is what a scan does with a file.
type fileVerdict int

const (
	verdictUnchanged  fileVerdict = iota // the current processor stays
	verdictKnown                         // rejected before with these bytes, and reported then
	verdictUnreadable                    // rejected: the file could not be read
	verdictUnloaded                      // a build of an unloaded processor: not loaded
	verdictOpen                          // new or changed: opened
)

// verdict decides what the scan does with fs, given what rt.rejected and
// the unloads say now.
func (pl *plan) verdict(fs *fileScan) fileVerdict {
	rt := pl.rt
	switch rej, ok := rt.rejected[fs.path]; {
	case fs.err == nil && fs.cur != nil && fs.cur.File.Fingerprint() == fs.fp && pl.o.reload != fs.cur.Name():
		return verdictUnchanged
	case ok && rej.fp == fs.fp && (pl.o.reload == "" || rej.plugin != pl.o.reload):
		return verdictKnown
	case fs.err != nil:
		return verdictUnreadable
	case rt.state.UnloadedDigest(fs.f.Digest) != "":
		return verdictUnloaded
	}
	return verdictOpen
}

// openAll opens, concurrently, the files of scans that need opening (by
// their verdict now), GOMAXPROCS at a time (two at least, so that one
// file slow to start never holds up all the others). Each open is bounded
// by its processor's start timeout and stops when ctx ends.
func (pl *plan) openAll(ctx context.Context, scans []*fileScan) {
	sem := make(chan struct{}, max(goruntime.GOMAXPROCS(0), 2))
	var wg sync.WaitGroup
	for _, fs := range scans {
		if pl.verdict(fs) != verdictOpen {
			continue
		}
		fs.tried = true
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fs.opened, fs.openErr = processor.Open(ctx, pl.rt.svc, fs.f, false)
		}()
	}
	wg.Wait()
}

// settle decides the fate of the file of fs, in file order: it returns
// the processor newly opened for it, or nil and whether the current
// processor (if any) stays. It reports a file that failed and remembers
// it, except when ctx ended: then the sync is abandoned (see syncLocked).
// A file whose verdict changed since openAll (an earlier file cleared an
// unload) is opened now, or its processor closed.
func (pl *plan) settle(ctx context.Context, fs *fileScan) (opened *processor.Version, keepCur bool) {
	rt := pl.rt
	v := pl.verdict(fs)
	if v != verdictOpen && fs.opened != nil {
		_ = fs.opened.Close(ctx)
	}
	switch v {
	case verdictUnchanged:
		delete(rt.rejected, fs.path)
		return nil, true
	case verdictKnown:
		return nil, true
	case verdictUnreadable:
		pl.rejectFile(fs.path, fs.f, fs.fp, fs.err, fs.cur)
		return nil, true
	case verdictUnloaded:
		if fs.cur != nil {
			pl.leaving[fs.cur] = "file " + filepath.Base(fs.path) + " now holds a build of unloaded processor " + rt.state.UnloadedDigest(fs.f.Digest)
		}
		return nil, false
	}
	p, err := fs.opened, fs.openErr
	if !fs.tried {
		p, err = processor.Open(ctx, rt.svc, fs.f, false)
	}
	if err != nil {
		if ctx.Err() == nil {
			pl.rejectFile(fs.path, fs.f, fs.fp, err, fs.cur)
		}
		return nil, true
	}
	delete(rt.rejected, fs.path)
	if rt.state.IsUnloaded(p.Name()) { // a new build: the unload is over
		rt.state.SetUnloaded(p.Name(), nil)
		pl.stateChanged = true
		p.Log.Info("unload cleared: a new file of the processor arrived")
	}
	return p, false
}

// keep puts a current processor into the next snapshot, unless its
// processor was unloaded.
func (pl *plan) keep(p *processor.Version) {
	if pl.rt.state.IsUnloaded(p.Name()) {
		pl.leaving[p] = cmp.Or(pl.o.why[p.Name()], "processor unloaded")
		return
	}
	pl.kept = append(pl.kept, p)
}

// rejectFile reports a file that failed and remembers it; cur, if any, is
// the version that keeps serving in its place.
func (pl *plan) rejectFile(path string, f *modfile.File, fp modfile.Fingerprint, err error, cur *processor.Version) {
	r := newRejection(path, f, err)
	pl.rt.rejected[path] = rejectedFile{fp: fp, plugin: r.Plugin}
	pl.reject(*r, cur)
}

// reject reports a rejection in Changes, the log, an event and a metric.
// kept is the version that keeps serving in its place, if any.
func (pl *plan) reject(r Rejection, kept *processor.Version) {
	pl.changes.Rejected = append(pl.changes.Rejected, r)
	pl.rt.reportRejected(r, kept)
}

// reportRejected reports a rejection in the log, an event and a metric.
func (rt *Runtime) reportRejected(r Rejection, kept *processor.Version) {
	rt.metrics.rejected.Inc()
	data := map[string]string{"file": filepath.Base(r.File), "reason": r.Reason}
	attrs := []any{"file", filepath.Base(r.File), "plugin", r.Plugin, "version", r.Version, "reason", r.Reason}
	if r.Digest != "" {
		data["digest"] = r.Digest
		attrs = append(attrs, "digest", r.Digest[:modfile.DigestLabelLen])
	}
	if kept != nil {
		data["kept"] = kept.ID()
		attrs = append(attrs, "kept", kept.ID()+" ("+kept.Digest12()+")")
	}
	rt.log.Warn("processor rejected", attrs...)
	rt.emit(Event{Type: EventPluginRejected, Plugin: r.Plugin, Version: r.Version, Data: mustJSON(data)})
}
