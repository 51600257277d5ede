package watch

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
)

// These tests watch real directories in t.TempDir() with real file
// operations. They never wait for a guessed time: they wait for a Sync, or
// for the log line of an event, with testutil.Eventually. Where a test
// shows that something did NOT cause a Sync, it makes a marker change
// afterwards and checks that the one Sync that follows names only the
// marker: an ignored change treated as relevant would have had a Sync of
// its own, or be named with the marker.

// waitLimit bounds every wait, so that a bug fails rather than hangs. It is
// never an assertion on speed.
const waitLimit = 10 * time.Second

// call is what one Sync saw: the size of every file in the directory when
// it started, and whether its context had ended when it returned.
type call struct {
	files    map[string]int64
	canceled bool
}

// recorder is a Sync function that records what each call sees. It fails
// the test if two calls overlap. A call waits for gate when gate is set.
type recorder struct {
	dir     string
	mu      sync.Mutex
	calls   []call
	running atomic.Int32
	overlap atomic.Bool
	gate    chan struct{} // nil: calls return at once
	entered chan struct{} // receives once per call, when gate is set
}

func newRecorder(dir string) *recorder { return &recorder{dir: dir} }

// hold makes the calls wait until release.
func (r *recorder) hold() {
	r.gate, r.entered = make(chan struct{}), make(chan struct{}, 100)
}

func (r *recorder) release() { close(r.gate) }

// Sync is the recorder's Sync function.
func (r *recorder) Sync(ctx context.Context) error {
	if r.running.Add(1) > 1 {
		r.overlap.Store(true)
	}
	defer r.running.Add(-1)
	c := call{files: sizes(r.dir)}
	if r.gate != nil {
		r.entered <- struct{}{}
		select {
		case <-r.gate:
		case <-ctx.Done():
		}
	}
	c.canceled = ctx.Err() != nil
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	return nil
}

// all returns the calls that have returned so far.
func (r *recorder) all() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// last returns the last call that returned, and how many have.
func (r *recorder) last() (call, int) {
	calls := r.all()
	if len(calls) == 0 {
		return call{}, 0
	}
	return calls[len(calls)-1], len(calls)
}

// waitFor waits until a call has seen cond hold, and returns how many
// calls there had been then.
func (r *recorder) waitFor(t *testing.T, what string, cond func(files map[string]int64) bool) int {
	t.Helper()
	var n int
	testutil.Eventually(t, waitLimit, "a sync that sees "+what, func() bool {
		var c call
		c, n = r.last()
		return n > 0 && cond(c.files)
	})
	return n
}

// sizes lists the regular files of dir with their sizes.
func sizes(dir string) map[string]int64 {
	out := map[string]int64{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			out[e.Name()] = info.Size()
		}
	}
	return out
}

// logs is a slog handler that keeps every record and passes it on to the
// test's log.
type logs struct {
	t       testing.TB
	mu      sync.Mutex
	records []slog.Record
}

func (h *logs) Enabled(context.Context, slog.Level) bool { return true }
func (h *logs) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logs) WithGroup(string) slog.Handler            { return h }

func (h *logs) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r.Clone())
	h.mu.Unlock()
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	h.t.Log(line)
	return nil
}

// with returns the records whose message is msg.
func (h *logs) with(msg string) []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []slog.Record
	for _, r := range h.records {
		if r.Message == msg {
			out = append(out, r)
		}
	}
	return out
}

// hasPrefix reports whether a record's message starts with prefix.
func (h *logs) hasPrefix(prefix string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.ContainsFunc(h.records, func(r slog.Record) bool { return strings.HasPrefix(r.Message, prefix) })
}

// attr returns the value of r's attribute key, formatted.
func attr(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = fmt.Sprint(a.Value.Any())
			return false
		}
		return true
	})
	return v
}

// syncedFiles lists, for each Sync started so far, the files its log line
// named.
func (h *logs) syncedFiles() []string {
	var out []string
	for _, r := range h.with(msgSyncing) {
		out = append(out, attr(r, "files"))
	}
	return out
}

// The log messages tests wait for.
const (
	msgSyncing = "plugins directory changed; syncing"
	msgChanged = "plugins directory: file changed"
)

// sawEvent reports whether the watcher has logged a relevant event for file.
func (h *logs) sawEvent(file string) bool {
	return slices.ContainsFunc(h.with(msgChanged), func(r slog.Record) bool { return attr(r, "file") == file })
}

// watched is a Watcher under test with its Sync recorder and its logs.
type watched struct {
	w   *Watcher
	rec *recorder
	log *logs
	dir string
}

// startWatch starts a Watcher on dir with opts (Dir, Sync and Logger
// filled in), stopped when the test ends. rec may be nil for a new one.
func startWatch(t *testing.T, dir string, rec *recorder, opts Options) *watched {
	t.Helper()
	if rec == nil {
		rec = newRecorder(dir)
	}
	lg := &logs{t: t}
	opts.Dir, opts.Sync, opts.Logger = dir, rec.Sync, slog.New(lg)
	w, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		w.Stop()
		if rec.overlap.Load() {
			t.Error("two Syncs ran at once")
		}
	})
	return &watched{w: w, rec: rec, log: lg, dir: dir}
}

// write writes content to the file name in dir.
func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rename renames a file of dir.
func rename(t *testing.T, dir, from, to string) {
	t.Helper()
	if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
		t.Fatal(err)
	}
}
