package watch

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/empirefederation/neuron/internal/testutil"
)

// TestLoop_NotifyErrors: lost events make a Sync of the whole directory
// due, with nothing pending; other errors are only logged.
func TestLoop_NotifyErrors(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantSyncs int
	}{
		{"events lost", fsnotify.ErrEventOverflow, 1},
		{"events lost, wrapped", errors.Join(errors.New("read"), fsnotify.ErrEventOverflow), 1},
		{"other error", errors.New("read: input/output error"), 0},
		{"nil", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rec := newRecorder(dir)
			l := newLoop(&Watcher{opts: Options{Dir: dir, Quiet: time.Hour, Retry: time.Hour, MaxWait: time.Hour,
				Sync: rec.Sync, Logger: slog.New(&logs{t: t})}})
			if !l.watch() {
				t.Fatal("not watching a directory that exists")
			}
			defer l.unwatch()
			ctx := context.Background()
			l.notifyError(tc.err)
			l.settle(ctx) // as when the quiet period ends
			if l.syncing {
				l.finished(ctx, <-l.synced)
			}
			if got := len(rec.all()); got != tc.wantSyncs {
				t.Errorf("%d Syncs, want %d", got, tc.wantSyncs)
			}
		})
	}
}

// TestWatcher_MaxWait: a file held open for writing defers Sync for
// MaxWait at most, so that a writer that never finishes blocks nothing.
func TestWatcher_MaxWait(t *testing.T) {
	if goruntime.GOOS != "linux" {
		t.Skip("only Linux tells whether a file is open for writing")
	}
	t.Parallel()
	dir := t.TempDir()
	wt := startWatch(t, dir, nil, Options{Quiet: 10 * time.Millisecond, MaxWait: 100 * time.Millisecond})
	f, err := os.Create(filepath.Join(dir, "stuck.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("part")); err != nil {
		t.Fatal(err)
	}
	wt.rec.waitFor(t, "stuck.wasm", func(files map[string]int64) bool { return files["stuck.wasm"] == 4 })
	testutil.Eventually(t, waitLimit, "a warning naming the stuck file", func() bool {
		return wt.log.hasPrefix("plugins directory: files still being written after 100ms")
	})
}

// TestLoop_NotificationEnds: a file notification that ends by itself is
// replaced at the next check, with a Sync of everything, and changes are
// seen again.
func TestLoop_NotificationEnds(t *testing.T) {
	dir := t.TempDir()
	rec := newRecorder(dir)
	lg := &logs{t: t}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{opts: Options{Dir: dir, Quiet: 10 * time.Millisecond, Retry: 10 * time.Millisecond, MaxWait: time.Hour,
		Sync: rec.Sync, Logger: slog.New(lg)}, cancel: cancel, done: make(chan struct{})}
	l := newLoop(w)
	if !l.watch() {
		t.Fatal("not watching a directory that exists")
	}
	_ = l.fs.Close() // as after a fatal read error: its channels close
	go func() {
		defer close(w.done)
		l.run(ctx)
	}()
	defer w.Stop()
	testutil.Eventually(t, waitLimit, "the error", func() bool {
		return lg.hasPrefix("plugins directory: file notification stopped")
	})
	rec.waitFor(t, "the directory after watching again", func(map[string]int64) bool { return true })
	write(t, dir, "a.wasm", "A")
	rec.waitFor(t, "a.wasm", func(files map[string]int64) bool { return files["a.wasm"] == 1 })
}
