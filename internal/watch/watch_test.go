package watch

import (
	"context"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
)

// TestWatcher_Changes: each relevant change makes a Sync that sees it and
// names it; each ignored change makes none, which the marker written after
// it shows.
func TestWatcher_Changes(t *testing.T) {
	const marker = "marker.wasm"
	tests := []struct {
		name   string
		before map[string]string // files present before the watcher starts
		change func(t *testing.T, dir string)
		// want is the size of each file the Sync must see, -1 for absent;
		// logged the files its log line may name, each of them named by
		// some Sync unless required lists fewer. An ignored change wants
		// only the marker.
		want             map[string]int64
		logged, required []string
	}{
		{name: "create", change: func(t *testing.T, dir string) { write(t, dir, "a.wasm", "AAAA") },
			want: map[string]int64{"a.wasm": 4}, logged: []string{"a.wasm"}},
		{name: "atomic rename from a hidden file", change: func(t *testing.T, dir string) {
			write(t, dir, ".a.wasm.tmp", "AAAAA")
			rename(t, dir, ".a.wasm.tmp", "a.wasm")
		}, want: map[string]int64{"a.wasm": 5}, logged: []string{"a.wasm"}},
		{name: "atomic rename from a partial download", change: func(t *testing.T, dir string) {
			write(t, dir, "a.wasm.part", "AAAAAA")
			rename(t, dir, "a.wasm.part", "a.wasm")
		}, want: map[string]int64{"a.wasm": 6}, logged: []string{"a.wasm"}},
		{name: "rewrite in place", before: map[string]string{"a.wasm": "old"},
			change: func(t *testing.T, dir string) { write(t, dir, "a.wasm", "newer!") },
			want:   map[string]int64{"a.wasm": 6}, logged: []string{"a.wasm"}},
		{name: "remove", before: map[string]string{"a.wasm": "old", "b.wasm": "keep"},
			change: func(t *testing.T, dir string) { _ = os.Remove(filepath.Join(dir, "a.wasm")) },
			want:   map[string]int64{"a.wasm": -1, "b.wasm": 4}, logged: []string{"a.wasm"}},
		{name: "rename away", before: map[string]string{"a.wasm": "old"},
			change: func(t *testing.T, dir string) { rename(t, dir, "a.wasm", "a.wasm.bak") },
			want:   map[string]int64{"a.wasm": -1}, logged: []string{"a.wasm"}},
		{name: "sidecar manifest beside its module", before: map[string]string{"a.wasm": "AAAA"},
			change: func(t *testing.T, dir string) { write(t, dir, "a.json", "{}") },
			want:   map[string]int64{"a.json": 2}, logged: []string{"a.json"}},
		{name: "signature file beside its module", before: map[string]string{"a.wasm": "AAAA"},
			change: func(t *testing.T, dir string) { write(t, dir, "a.wasm.sig", "{}") },
			want:   map[string]int64{"a.wasm.sig": 2}, logged: []string{"a.wasm.sig"}},
		{name: "sidecar first, then its module", change: func(t *testing.T, dir string) {
			write(t, dir, "a.json", "{}")
			write(t, dir, "a.wasm", "AAAA")
			// The manifest counts if its module is there when its event is read.
		}, want: map[string]int64{"a.json": 2, "a.wasm": 4}, logged: []string{"a.json", "a.wasm"}, required: []string{"a.wasm"}},
		{name: "hidden module", change: writeIgnored(".a.wasm")},
		{name: "emacs backup", change: writeIgnored("a.wasm~")},
		{name: "vim swap", change: writeIgnored(".a.wasm.swp")},
		{name: "vim swap, second", change: writeIgnored("a.wasm.swx")},
		{name: "vim write probe", change: writeIgnored("4913")},
		{name: "emacs autosave", change: writeIgnored("#a.wasm#")},
		{name: "temporary", change: writeIgnored("a.wasm.tmp")},
		{name: "partial download", change: writeIgnored("a.wasm.part")},
		{name: "browser download", change: writeIgnored("a.wasm.crdownload")},
		{name: "other file", change: writeIgnored("README.md")},
		{name: "sidecar without module", change: writeIgnored("orphan.json")},
		{name: "signature without module", change: writeIgnored("orphan.wasm.sig")},
		{name: "directory", change: func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "d.wasm"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "file in a subdirectory", before: map[string]string{"sub/.keep": ""},
			change: writeIgnored("sub/a.wasm")},
		{name: "permissions only", before: map[string]string{"a.wasm": "AAAA"}, change: func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, "a.wasm"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, content := range tc.before {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
					t.Fatal(err)
				}
				write(t, dir, name, content)
			}
			wt := startWatch(t, dir, nil, Options{Quiet: 50 * time.Millisecond})
			tc.change(t, dir)
			want, logged, required := tc.want, tc.logged, cmpOr(tc.required, tc.logged)
			if want == nil { // an ignored change: the marker shows it made no Sync
				write(t, dir, marker, "M")
				want, logged, required = map[string]int64{marker: 1}, []string{marker}, []string{marker}
			}
			wt.rec.waitFor(t, describe(want), func(files map[string]int64) bool { return matches(files, want) })
			named := map[string]bool{}
			for _, files := range wt.log.syncedFiles() {
				for _, f := range strings.Fields(strings.Trim(files, "[]")) {
					named[f] = true
					if !slices.Contains(logged, f) {
						t.Errorf("a Sync was started for %s; want only for %v", f, logged)
					}
				}
			}
			for _, f := range required {
				if !named[f] {
					t.Errorf("no Sync named %s; Syncs named %v", f, wt.log.syncedFiles())
				}
			}
		})
	}
}

func cmpOr(a, b []string) []string {
	if a != nil {
		return a
	}
	return b
}

// writeIgnored returns a change writing the file name, which must cause no Sync.
func writeIgnored(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) { write(t, dir, name, "ignored") }
}

// matches reports whether files has each file of want with its size, or
// lacks it for size -1.
func matches(files, want map[string]int64) bool {
	for name, size := range want {
		got, ok := files[name]
		if size < 0 && ok || size >= 0 && (!ok || got != size) {
			return false
		}
	}
	return true
}

func describe(want map[string]int64) string {
	var parts []string
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
	}) {
		if want[name] < 0 {
			parts = append(parts, "no "+name)
		} else {
			parts = append(parts, name+" complete")
		}
	}
	return strings.Join(parts, ", ")
}

// TestWatcher_IncompleteFiles: a module written in pieces is synced only
// once complete, so no Sync ever sees it partly written.
func TestWatcher_IncompleteFiles(t *testing.T) {
	const chunk = 64 << 10
	tests := []struct {
		name   string
		quiet  time.Duration
		pause  time.Duration // between chunks
		chunks int
		linux  bool // needs the open-for-writing check
		// write writes the chunks to path: through one open file, or
		// reopening a hard link outside the directory for each (no event
		// in the directory, and not open between chunks).
		reopen bool
	}{
		{name: "pauses shorter than the quiet period", quiet: 300 * time.Millisecond, pause: time.Millisecond, chunks: 64},
		{name: "pauses longer than the quiet period, file held open", quiet: 20 * time.Millisecond, pause: 50 * time.Millisecond, chunks: 8, linux: true},
		{name: "written through a link outside the directory", quiet: 150 * time.Millisecond, pause: 5 * time.Millisecond, chunks: 80, reopen: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.linux && goruntime.GOOS != "linux" {
				t.Skip("only Linux tells whether a file is open for writing")
			}
			dir := t.TempDir()
			wt := startWatch(t, dir, nil, Options{Quiet: tc.quiet, MaxWait: waitLimit})
			path := filepath.Join(dir, "big.wasm")
			final := int64(tc.chunks * chunk)
			done := make(chan error, 1)
			go func() {
				done <- writeChunks(path, filepath.Join(t.TempDir(), "link"), tc.chunks, chunk, tc.pause, tc.reopen)
			}()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			wt.rec.waitFor(t, "big.wasm complete", func(files map[string]int64) bool { return files["big.wasm"] == final })
			for i, c := range wt.rec.all() {
				if size, ok := c.files["big.wasm"]; ok && size != final {
					t.Errorf("Sync %d saw big.wasm at %d of %d bytes", i+1, size, final)
				}
			}
		})
	}
}

// writeChunks writes n chunks of size bytes to path, pausing between them.
// With reopen, it creates path, then appends each chunk through a hard
// link at link, opened and closed each time.
func writeChunks(path, link string, n, size int, pause time.Duration, reopen bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if reopen {
		if err := errorsJoin(f.Close(), os.Link(path, link)); err != nil {
			return err
		}
	}
	buf := make([]byte, size)
	for i := range n {
		if i > 0 {
			time.Sleep(pause) // the slow writer being simulated, not synchronization
		}
		if reopen {
			if f, err = os.OpenFile(link, os.O_WRONLY|os.O_APPEND, 0); err != nil {
				return err
			}
		}
		if _, err := f.Write(buf); err != nil {
			return err
		}
		if reopen {
			if err := f.Close(); err != nil {
				return err
			}
		}
	}
	if reopen {
		return nil
	}
	return f.Close()
}

func errorsJoin(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestWatcher_Burst: a burst of 100 changes makes a few Syncs, not 100.
func TestWatcher_Burst(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wt := startWatch(t, dir, nil, Options{Quiet: 200 * time.Millisecond})
	for i := range 100 {
		write(t, dir, "m"+strings.Repeat("x", i%10)+string(rune('a'+i/10))+".wasm", "module")
	}
	n := wt.rec.waitFor(t, "100 modules", func(files map[string]int64) bool { return len(files) == 100 })
	if n > 3 {
		t.Errorf("%d Syncs for a burst of 100 changes, want at most 3", n)
	}
}

// TestWatcher_ChangesDuringSync: changes made while a Sync runs lead to
// exactly one more Sync after it, never to a second one at the same time.
func TestWatcher_ChangesDuringSync(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rec := newRecorder(dir)
	rec.hold()
	wt := startWatch(t, dir, rec, Options{Quiet: 20 * time.Millisecond})
	write(t, dir, "a.wasm", "A")
	<-rec.entered
	for _, name := range []string{"b.wasm", "c.wasm", "d.wasm"} {
		write(t, dir, name, "X")
		testutil.Eventually(t, waitLimit, "the event of "+name, func() bool { return wt.log.sawEvent(name) })
	}
	testutil.Eventually(t, waitLimit, "the quiet period to end during the Sync", func() bool { return len(wt.log.with(msgAgain)) > 0 })
	rec.release()
	rec.waitFor(t, "b, c and d", func(files map[string]int64) bool { return len(files) == 4 })
	if got := wt.log.syncedFiles(); !slices.Equal(got, []string{"[a.wasm]", "[b.wasm c.wasm d.wasm]"}) {
		t.Errorf("Syncs named %v; want a.wasm, then one Sync for b, c and d", got)
	}
}

// TestWatcher_Directory: a directory missing at start, removed, renamed or
// swapped is watched again once it is back, with a Sync of what it holds,
// and the changes after that are seen too.
func TestWatcher_Directory(t *testing.T) {
	tests := []struct {
		name string
		// setup prepares root and returns the directory to watch; lose
		// takes it away (nil when it is missing from the start), restore
		// brings it back holding b.wasm, and returns the directory files
		// are now written in.
		setup   func(t *testing.T, root string) string
		lose    func(t *testing.T, dir string)
		restore func(t *testing.T, dir string) string
		lostLog string
	}{
		{
			name:    "missing at start",
			setup:   func(t *testing.T, root string) string { return filepath.Join(root, "plugins") },
			restore: mkdirWith,
			lostLog: "plugins directory not watched",
		},
		{
			name:    "removed and created again",
			setup:   existing,
			lose:    func(t *testing.T, dir string) { must(t, os.RemoveAll(dir)) },
			restore: mkdirWith,
			lostLog: "plugins directory removed or renamed",
		},
		{
			name:  "renamed away and back",
			setup: existing,
			lose:  func(t *testing.T, dir string) { must(t, os.Rename(dir, dir+".old")) },
			restore: func(t *testing.T, dir string) string {
				write(t, dir+".old", "b.wasm", "B")
				must(t, os.Rename(dir+".old", dir))
				return dir
			},
			lostLog: "plugins directory removed or renamed",
		},
		{
			name: "symbolic link pointed elsewhere",
			setup: func(t *testing.T, root string) string {
				link := filepath.Join(root, "plugins")
				must(t, os.Mkdir(filepath.Join(root, "v1"), 0o755))
				write(t, filepath.Join(root, "v1"), "a.wasm", "A")
				must(t, os.Symlink("v1", link))
				return link
			},
			restore: func(t *testing.T, link string) string {
				v2 := filepath.Join(filepath.Dir(link), "v2")
				mkdirWith(t, v2)
				must(t, os.Symlink("v2", link+".new"))
				must(t, os.Rename(link+".new", link))
				return v2
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := tc.setup(t, t.TempDir())
			rec := newRecorder(dir)
			wt := startWatch(t, dir, rec, Options{Quiet: 20 * time.Millisecond, Retry: 10 * time.Millisecond})
			if tc.lose != nil {
				tc.lose(t, dir)
			}
			if tc.lostLog != "" {
				testutil.Eventually(t, waitLimit, "the error "+tc.lostLog, func() bool {
					return wt.log.hasPrefix(tc.lostLog)
				})
			}
			now := tc.restore(t, dir)
			rec.waitFor(t, "b.wasm", func(files map[string]int64) bool { return files["b.wasm"] == 1 })
			write(t, now, "c.wasm", "CC")
			rec.waitFor(t, "c.wasm", func(files map[string]int64) bool { return files["c.wasm"] == 2 })
		})
	}
}

func existing(t *testing.T, root string) string {
	dir := filepath.Join(root, "plugins")
	must(t, os.Mkdir(dir, 0o755))
	write(t, dir, "a.wasm", "A")
	return dir
}

// mkdirWith creates dir holding b.wasm.
func mkdirWith(t *testing.T, dir string) string {
	must(t, os.Mkdir(dir, 0o755))
	write(t, dir, "b.wasm", "B")
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestWatcher_Stop: Stop ends the context of a Sync in progress, waits for
// it, and leaves no goroutine behind, whatever state each watcher was in.
func TestWatcher_Stop(t *testing.T) {
	baseline := goruntime.NumGoroutine()
	idle := startWatch(t, t.TempDir(), nil, Options{})
	missing := startWatch(t, filepath.Join(t.TempDir(), "missing"), nil, Options{Retry: time.Millisecond})
	dir := t.TempDir()
	rec := newRecorder(dir)
	rec.hold()
	busy := startWatch(t, dir, rec, Options{Quiet: time.Millisecond})
	write(t, dir, "a.wasm", "A")
	<-rec.entered
	for _, w := range []*watched{idle, missing, busy} {
		w.w.Stop()
		w.w.Stop() // idempotent
	}
	if calls := rec.all(); len(calls) != 1 || !calls[0].canceled {
		t.Errorf("Sync calls %+v; want one, whose context Stop ended", calls)
	}
	if n := busy.w.Syncs(); n != 1 {
		t.Errorf("Syncs() = %d, want 1", n)
	}
	testutil.Eventually(t, waitLimit, "goroutines back to the baseline", func() bool {
		return goruntime.NumGoroutine() <= baseline
	})
}

func TestStart_Errors(t *testing.T) {
	sync := func(context.Context) error { return nil }
	tests := []struct {
		name string
		opts Options
	}{
		{"no directory", Options{Sync: sync}},
		{"no sync", Options{Dir: t.TempDir()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Start(context.Background(), tc.opts)
			if err == nil {
				w.Stop()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), "Options.Dir and Options.Sync are required") {
				t.Errorf("error %q does not say what is missing", err)
			}
		})
	}
}
