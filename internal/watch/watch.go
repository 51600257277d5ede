// Package watch watches a plugins directory and asks for a sync when what
// it holds has settled after a change.
//
// A Watcher turns the file events of one directory into calls of one Sync
// function: debounced (one call after Options.Quiet of silence, however many
// events came before), never two at once (events during a call lead to one
// more call after it), and only for complete files (a module still changing,
// or still open for writing where the system can tell, defers the call).
// Only *.wasm modules, their NAME.json sidecar manifests and their
// NAME.wasm.sig signature files count; hidden
// files, editor and download temporaries, directories and attribute changes
// are ignored. What the files mean is Sync's business: the watcher neither
// reads nor validates them, and it imports nothing of the neuron, the
// runtime included (the agent's Sync calls the runtime's).
//
//	w, err := watch.Start(ctx, watch.Options{Dir: "plugins", Sync: func(ctx context.Context) error {
//		_, err := rt.Sync(ctx)
//		return err
//	}})
//	if err != nil { ... }
//	defer w.Stop()
//
// A directory that is missing (at start, or removed or renamed later) is
// logged and looked for again every Options.Retry; when it is back, one Sync
// makes the runtime match it. See docs/design.md, "How does the neuron
// notice a new processor file?".
package watch

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	// DefaultQuiet is how long the directory must stay silent after a
	// change before Sync runs. Copies, archive extractions and editor
	// saves write continuously and finish well within it; a writer that
	// pauses longer while holding the file open is caught by the open-file
	// check instead (Linux), and anything else still changing is caught by
	// the stability check. Short enough that a dropped file serves within
	// a fraction of a second of its rename.
	DefaultQuiet = 50 * time.Millisecond
	// DefaultRetry is how often a missing directory is looked for, and how
	// often a watched one is checked to still be the one watched (a symbolic
	// link re-pointed, a directory replaced).
	DefaultRetry = 2 * time.Second
	// DefaultMaxWait bounds how long Sync is deferred for files that are
	// still changing or open for writing: a writer that never finishes
	// must not block every other change forever.
	DefaultMaxWait = 30 * time.Second
)

// Options configure a Watcher. Dir and Sync are required; the other zero
// values take the defaults above.
type Options struct {
	// Dir is the directory watched (not its subdirectories).
	Dir string
	// Quiet is the silence after the last relevant event before Sync runs.
	Quiet time.Duration
	// Retry is the period of the checks of the directory itself.
	Retry time.Duration
	// MaxWait bounds how long Sync waits for files still being written.
	MaxWait time.Duration
	// Sync makes the caller serve what Dir holds now. It is never called
	// twice at once; its error is logged and the next change calls it
	// again. Its context ends when the Watcher stops.
	Sync func(ctx context.Context) error
	// Logger receives the watcher's log lines. Default slog.Default().
	Logger *slog.Logger
}

// Watcher watches one directory until Stop. Its methods are safe for
// concurrent use.
type Watcher struct {
	opts   Options
	cancel context.CancelFunc
	done   chan struct{} // closed when the loop and any Sync it started have returned
	syncs  atomic.Uint64
}

// Start starts watching opts.Dir in the background and returns at once.
// A directory that cannot be watched (missing, unreadable, or the system's
// file notification limits reached) is not an error: it is logged with what
// to do, and tried again every Options.Retry. The caller must call Stop.
//
// # Errors
//
// Only Options without Dir or Sync.
func Start(ctx context.Context, opts Options) (*Watcher, error) {
	if opts.Dir == "" || opts.Sync == nil {
		return nil, errors.New("watch: Options.Dir and Options.Sync are required")
	}
	opts.Dir = filepath.Clean(opts.Dir)
	opts.Quiet = cmpPositive(opts.Quiet, DefaultQuiet)
	opts.Retry = cmpPositive(opts.Retry, DefaultRetry)
	opts.MaxWait = cmpPositive(opts.MaxWait, DefaultMaxWait)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Logger = opts.Logger.With("dir", opts.Dir)
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{opts: opts, cancel: cancel, done: make(chan struct{})}
	l := newLoop(w)
	l.watch() // before returning, so that a change made once Start returns is seen
	go func() {
		defer close(w.done)
		l.run(ctx)
	}()
	return w, nil
}

// Stop stops watching: it ends the context of a Sync in progress, waits for
// it to return, and frees the file notification. It is idempotent.
func (w *Watcher) Stop() {
	w.cancel()
	<-w.done
}

// Syncs is how many Sync calls have returned so far.
func (w *Watcher) Syncs() uint64 { return w.syncs.Load() }

func cmpPositive(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
