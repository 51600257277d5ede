package watch

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// loop is the state of a Watcher, owned by its one goroutine: the file
// events, the quiet timer, the directory checks and the Sync in progress all
// meet in run's select, so none of it needs a lock.
type loop struct {
	w    *Watcher
	opts Options
	log  *slog.Logger

	fs      *fsnotify.Watcher // nil while the directory is not watched
	watched os.FileInfo       // the directory fs watches, to notice it replaced
	lost    bool              // the last attempt to watch failed and was logged

	// pending holds the names changed since the last Sync, each with its
	// state when last seen; the stability check compares against it.
	pending map[string]fileState
	// reason, when set, makes the next Sync due even with nothing pending:
	// the directory came back, or events were lost.
	reason string
	quiet  *time.Timer
	// deferredSince is when the pending files were first found still being
	// written; MaxWait later they are synced regardless.
	deferredSince time.Time

	syncing bool       // a Sync is running
	due     bool       // the quiet period ended while it ran
	synced  chan error // a Sync's result
}

func newLoop(w *Watcher) *loop {
	quiet := time.NewTimer(time.Hour)
	quiet.Stop()
	return &loop{w: w, opts: w.opts, log: w.opts.Logger, pending: map[string]fileState{}, quiet: quiet, synced: make(chan error, 1)}
}

// run serves the loop until ctx ends, then waits for a Sync in progress
// and stops watching.
func (l *loop) run(ctx context.Context) {
	check := time.NewTicker(l.opts.Retry)
	defer check.Stop()
	defer l.unwatch()
	for {
		var events <-chan fsnotify.Event
		var errs <-chan error
		if l.fs != nil {
			events, errs = l.fs.Events, l.fs.Errors
		}
		select {
		case <-ctx.Done():
			if l.syncing {
				l.finished(ctx, <-l.synced)
			}
			return
		case e, ok := <-events:
			if !ok {
				l.broken()
				continue
			}
			l.event(e)
		case err, ok := <-errs:
			if !ok {
				l.broken()
				continue
			}
			l.notifyError(err)
		case <-l.quiet.C:
			l.settle(ctx)
		case err := <-l.synced:
			l.finished(ctx, err)
		case <-check.C:
			l.checkDir()
		}
	}
}

// watch starts watching the directory and reports whether it could; a
// failure is logged once per outage, with what to do.
func (l *loop) watch() bool {
	info, err := os.Stat(l.opts.Dir) // before Add: a swap in between shows up at the next check
	if err == nil && !info.IsDir() {
		err = errors.New("not a directory")
	}
	var fs *fsnotify.Watcher
	if err == nil {
		fs, err = fsnotify.NewWatcher()
	}
	if err == nil {
		if err = fs.Add(l.opts.Dir); err != nil {
			_ = fs.Close()
		}
	}
	if err != nil {
		if !l.lost {
			l.log.Error("plugins directory not watched; the processors loaded keep serving, and it is looked for again every "+l.opts.Retry.String(),
				"err", err, "fix", hint(err))
		}
		l.lost = true
		return false
	}
	l.fs, l.watched, l.lost = fs, info, false
	return true
}

// hint says what to do about a failure to watch.
func hint(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "create the directory, or point pluginsDir (NEURON_PLUGINS_DIR) at an existing one"
	case errors.Is(err, syscall.EMFILE):
		return "too many inotify instances: raise fs.inotify.max_user_instances, or set pluginsWatch to false"
	case errors.Is(err, syscall.ENOSPC):
		return "too many inotify watches: raise fs.inotify.max_user_watches, or set pluginsWatch to false"
	case errors.Is(err, os.ErrPermission):
		return "let the neuron's user read the directory"
	}
	return "check that pluginsDir (NEURON_PLUGINS_DIR) is a readable directory"
}

// unwatch stops watching, forgetting what was pending: whatever happens
// meanwhile, the Sync that follows the next watch covers it.
func (l *loop) unwatch() {
	if l.fs != nil {
		_ = l.fs.Close()
	}
	l.fs, l.watched = nil, nil
	clear(l.pending)
	l.reason, l.deferredSince = "", time.Time{}
	l.quiet.Stop()
}

// broken handles the file notification ending by itself (its channels
// closed after a fatal read error): the next check watches again, with a
// Sync of everything.
func (l *loop) broken() {
	l.unwatch()
	l.log.Error("plugins directory: file notification stopped; watching again at the next check")
}

// checkDir looks for a missing directory, and checks that a watched one is
// still there and still the same (a symbolic link re-pointed, or the
// directory replaced by another, changes nothing a watch would see).
func (l *loop) checkDir() {
	if l.fs == nil {
		if l.watch() {
			l.log.Info("plugins directory found; watching it")
			l.syncAll("directory found")
		}
		return
	}
	info, err := os.Stat(l.opts.Dir)
	if err == nil && os.SameFile(info, l.watched) {
		return
	}
	l.unwatch()
	if l.watch() {
		l.log.Info("plugins directory replaced; watching the new one")
		l.syncAll("directory replaced")
	}
}

// syncAll makes a Sync due after the quiet period even if no file is
// pending, for why.
func (l *loop) syncAll(why string) {
	l.reason = why
	l.quiet.Reset(l.opts.Quiet)
}

// event records a file event; only relevant ones restart the quiet period.
func (l *loop) event(e fsnotify.Event) {
	path := filepath.Clean(e.Name)
	if path == l.opts.Dir {
		if e.Has(fsnotify.Remove) || e.Has(fsnotify.Rename) {
			l.unwatch()
			l.lost = true
			l.log.Error("plugins directory removed or renamed; the processors loaded keep serving, and it is looked for again every "+l.opts.Retry.String(),
				"fix", "put the directory back: once it is there, the neuron serves what it holds")
		}
		return
	}
	if filepath.Dir(path) != l.opts.Dir || !e.Has(fsnotify.Create|fsnotify.Write|fsnotify.Remove|fsnotify.Rename) {
		return // not in the directory itself, or only attributes changed
	}
	name := filepath.Base(path)
	k := kindOf(name)
	if k == irrelevant {
		return
	}
	st := statOf(path)
	if st.dir || k != module && !statOf(filepath.Join(l.opts.Dir, moduleOf(name))).exists {
		return // a directory, or a manifest or signature with no module beside it
	}
	l.log.Debug("plugins directory: file changed", "file", name, "op", e.Op.String())
	l.pending[name] = st
	l.quiet.Reset(l.opts.Quiet)
}

// notifyError handles an error of the file notification: lost events make
// a Sync of everything due.
func (l *loop) notifyError(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		l.log.Warn("plugins directory: too many file events at once, some were lost; syncing the whole directory")
		l.syncAll("file events lost")
		return
	}
	if err != nil {
		l.log.Error("plugins directory: file notification error; changes may be missed until the next one", "err", err)
	}
}

// settle runs when the quiet period ends: it starts a Sync once the
// changed files are complete, or waits another quiet period.
func (l *loop) settle(ctx context.Context) {
	if l.syncing {
		if !l.due {
			l.log.Debug(msgAgain)
		}
		l.due = true
		return
	}
	if l.fs == nil || len(l.pending) == 0 && l.reason == "" {
		return
	}
	if busy := l.unsettled(); len(busy) > 0 {
		if l.deferredSince.IsZero() {
			l.deferredSince = time.Now()
		}
		if waited := time.Since(l.deferredSince); waited < l.opts.MaxWait {
			l.log.Debug("plugins directory: waiting for files still being written", "files", busy)
			l.quiet.Reset(l.opts.Quiet)
			return
		}
		l.log.Warn("plugins directory: files still being written after "+l.opts.MaxWait.String()+"; syncing anyway (an incomplete module is rejected and the old version keeps serving)",
			"files", busy)
	}
	l.startSync(ctx)
}

// unsettled lists the pending files still being written: changed since
// they were last seen (recording what they are now), or open for writing.
func (l *loop) unsettled() []string {
	var busy []string
	for _, name := range slices.Sorted(maps.Keys(l.pending)) {
		path := filepath.Join(l.opts.Dir, name)
		now := statOf(path)
		switch {
		case now != l.pending[name]:
			l.pending[name] = now
			busy = append(busy, name+" (changing)")
		case now.exists && openForWriting(path):
			busy = append(busy, name+" (open for writing)")
		}
	}
	return busy
}

// startSync starts a Sync in the background, logging what changed.
func (l *loop) startSync(ctx context.Context) {
	files := slices.Sorted(maps.Keys(l.pending))
	attrs := []any{"files", files}
	if l.reason != "" {
		attrs = append(attrs, "reason", l.reason)
	}
	l.log.Info("plugins directory changed; syncing", attrs...)
	clear(l.pending)
	l.reason, l.deferredSince = "", time.Time{}
	l.syncing = true
	go func() { l.synced <- l.opts.Sync(ctx) }()
}

// finished records a Sync's end, and starts the next one if the quiet
// period after later changes ended while it ran.
func (l *loop) finished(ctx context.Context, err error) {
	l.syncing = false
	l.w.syncs.Add(1)
	if err != nil && ctx.Err() == nil {
		l.log.Error("plugins directory: sync failed; the next change tries again", "err", err)
	}
	if l.due && ctx.Err() == nil {
		l.due = false
		l.settle(ctx)
	}
}

// msgAgain is logged when changes settle while a Sync runs.
const msgAgain = "plugins directory: changed during a sync; syncing again once it returns"

// fileState is what the stability check compares: a file whose state
// differs across a quiet period is still being written.
type fileState struct {
	exists, dir bool
	size        int64
	mtime       int64 // nanoseconds
}

func statOf(path string) fileState {
	fi, err := os.Lstat(path)
	if err != nil {
		return fileState{}
	}
	return fileState{exists: true, dir: fi.IsDir(), size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}
