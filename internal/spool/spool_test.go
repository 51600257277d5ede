package spool

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"testing"

	"github.com/empirefederation/neuron/internal/testutil"
)

// record is one record as a consumer saw it.
type record struct {
	seq  uint64
	data string
}

// openT opens a spool that the test closes at cleanup.
func openT(tb testing.TB, opts Options) *Spool {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{tb}, nil))
	}
	s, err := Open(opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// testWriter sends log lines to the test log.
type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// appendAll appends each string.
func appendAll(tb testing.TB, s *Spool, data ...string) {
	tb.Helper()
	for _, d := range data {
		if err := s.Append([]byte(d)); err != nil {
			tb.Fatalf("Append(%q): %v", d, err)
		}
	}
}

// drain consumes the spool as a sender would: Peek, then Remove.
func drain(tb testing.TB, s *Spool) []record {
	tb.Helper()
	var out []record
	for {
		seq, data, ok, err := s.Peek()
		if err != nil {
			tb.Fatalf("Peek: %v", err)
		}
		if !ok {
			return out
		}
		out = append(out, record{seq, string(data)})
		if err := s.Remove(seq); err != nil {
			tb.Fatalf("Remove(%d): %v", seq, err)
		}
	}
}

// datas returns the data of each record.
func datas(recs []record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.data
	}
	return out
}

// numbered returns "prefix-from" .. "prefix-to".
func numbered(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

func TestOrderKeptAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir})
	appendAll(t, s, numbered("r", 1, 20)...)
	if err := s.Remove(1); err != nil { // acknowledged before the restart
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openT(t, Options{Dir: dir})
	if got, want := s.Len(), 19; got != want {
		t.Fatalf("Len after reopen = %d, want %d", got, want)
	}
	appendAll(t, s, "r-21")
	got := drain(t, s)
	if want := numbered("r", 2, 21); !slices.Equal(datas(got), want) {
		t.Fatalf("after reopen got %q, want %q", datas(got), want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].seq <= got[i-1].seq {
			t.Fatalf("sequence not increasing: %d after %d", got[i].seq, got[i-1].seq)
		}
	}
	if s.Len() != 0 || s.Bytes() != 0 {
		t.Fatalf("drained spool has Len %d, Bytes %d", s.Len(), s.Bytes())
	}
}

func TestBoundsDropOldest(t *testing.T) {
	rec := int64(headerSize + len("r-1"))
	tests := []struct {
		name     string
		opts     Options
		appended []string
		kept     []string
	}{
		{"by items", Options{MaxItems: 3}, numbered("r", 1, 7), numbered("r", 5, 7)},
		{"by bytes", Options{MaxBytes: 4 * rec}, numbered("r", 1, 9), numbered("r", 6, 9)},
		{"big record evicts several", Options{MaxBytes: 4 * rec}, append(numbered("r", 1, 4), strings.Repeat("x", int(2*rec))), []string{"r-4", strings.Repeat("x", int(2*rec))}},
		{"within bounds", Options{MaxItems: 10}, numbered("r", 1, 10), numbered("r", 1, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Dir = t.TempDir()
			s := openT(t, opts)
			appendAll(t, s, tt.appended...)
			wantDropped := uint64(len(tt.appended) - len(tt.kept))
			if st := s.Stats(); st.Dropped != wantDropped || st.Items != len(tt.kept) {
				t.Fatalf("Stats = %+v, want Dropped %d, Items %d", st, wantDropped, len(tt.kept))
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			// The pending drop count survives a restart and is handed out once.
			s = openT(t, opts)
			if got := s.TakeDropped(); got != wantDropped {
				t.Fatalf("TakeDropped after reopen = %d, want %d", got, wantDropped)
			}
			if got := s.TakeDropped(); got != 0 {
				t.Fatalf("second TakeDropped = %d, want 0", got)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openT(t, opts)
			if got := s.TakeDropped(); got != 0 {
				t.Fatalf("TakeDropped after taking and reopening = %d, want 0", got)
			}
			if got := datas(drain(t, s)); !slices.Equal(got, tt.kept) {
				t.Fatalf("kept %q, want %q", got, tt.kept)
			}
		})
	}
}

func TestOpenEnforcesSmallerBounds(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir})
	appendAll(t, s, numbered("r", 1, 5)...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, Options{Dir: dir, MaxItems: 2})
	if got := s.TakeDropped(); got != 3 {
		t.Fatalf("TakeDropped = %d, want 3", got)
	}
	if got, want := datas(drain(t, s)), numbered("r", 4, 5); !slices.Equal(got, want) {
		t.Fatalf("kept %q, want %q", got, want)
	}
}

func TestRecoveryIgnoresDamage(t *testing.T) {
	good := encode([]byte("r-good"))
	tests := []struct {
		name    string
		file    string // written into the spool directory before reopening
		content []byte
		corrupt uint64
	}{
		{"torn record", recName(50), good[:len(good)-2], 1},
		{"empty record", recName(50), nil, 1},
		{"flipped bit", recName(50), flipBit(good, len(good)-1), 1},
		{"foreign file", recName(50), []byte("not a record at all"), 1},
		{"leftover temp file", "." + recName(50) + "-123" + tmpExt, good, 0},
		{"unrelated file", "README", []byte("operators' notes"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openT(t, Options{Dir: dir})
			appendAll(t, s, "r-1", "r-2")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tt.file)
			if err := os.WriteFile(path, tt.content, 0o644); err != nil {
				t.Fatal(err)
			}

			var logs testutil.Buffer
			s = openT(t, Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if got := s.Stats().Corrupt; got != tt.corrupt {
				t.Errorf("Stats.Corrupt = %d, want %d", got, tt.corrupt)
			}
			warned := strings.Contains(logs.String(), `level=WARN msg="spool: removing corrupt record"`)
			if warned != (tt.corrupt > 0) {
				t.Errorf("corrupt record warning logged = %v, want %v; log:\n%s", warned, tt.corrupt > 0, logs.String())
			}
			_, err := os.Stat(path)
			if removed := os.IsNotExist(err); removed != (tt.file != "README") {
				t.Errorf("%s removed = %v", tt.file, removed)
			}
			if got, want := datas(drain(t, s)), []string{"r-1", "r-2"}; !slices.Equal(got, want) {
				t.Fatalf("records %q, want %q", got, want)
			}
		})
	}
}

func TestPeekSkipsRecordCorruptedAfterOpen(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir})
	appendAll(t, s, "r-1", "r-2", "r-3")
	seq, _, _, _ := s.Peek()
	path := filepath.Join(dir, recName(seq))
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, flipBit(buf, headerSize), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, recName(seq+1))); err != nil { // vanished
		t.Fatal(err)
	}
	if got, want := datas(drain(t, s)), []string{"r-3"}; !slices.Equal(got, want) {
		t.Fatalf("records %q, want %q", got, want)
	}
	if got := s.Stats().Corrupt; got != 2 {
		t.Fatalf("Stats.Corrupt = %d, want 2", got)
	}
}

func TestDropSurvivesCrashBeforeDelete(t *testing.T) {
	// A crash after the drop count was saved but before the dropped files
	// were deleted: Open must delete them without counting them again.
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir})
	appendAll(t, s, numbered("r", 1, 4)...)
	if err := s.saveState(dropState{pending: 2, through: 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, Options{Dir: dir})
	if got := s.TakeDropped(); got != 2 {
		t.Fatalf("TakeDropped = %d, want 2", got)
	}
	if got, want := datas(drain(t, s)), numbered("r", 3, 4); !slices.Equal(got, want) {
		t.Fatalf("records %q, want %q", got, want)
	}
}

func TestSetAsideBounded(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, Options{Dir: dir})
	const n = keepRejected + 3
	appendAll(t, s, numbered("r", 1, n+1)...)
	var lastSeq uint64
	for i := 1; i <= n; i++ {
		seq, data, _, err := s.Peek()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetAside(seq, fmt.Sprintf("400: bad report %s", data)); err != nil {
			t.Fatalf("SetAside(%d): %v", seq, err)
		}
		lastSeq = seq
	}
	if got := s.Stats(); got.SetAside != n || got.Items != 1 {
		t.Fatalf("Stats = %+v, want SetAside %d, Items 1", got, n)
	}
	rej := filepath.Join(dir, rejectedDir)
	entries, err := os.ReadDir(rej)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(entries), 2*keepRejected; got != want {
		t.Fatalf("rejected/ holds %d files, want %d", got, want)
	}
	reason, err := os.ReadFile(filepath.Join(rej, strings.TrimSuffix(recName(lastSeq), recExt)+reasonExt))
	if err != nil {
		t.Fatalf("newest reason: %v", err)
	}
	if want := fmt.Sprintf("400: bad report r-%d\n", n); string(reason) != want {
		t.Fatalf("reason = %q, want %q", reason, want)
	}
	buf, err := os.ReadFile(filepath.Join(rej, recName(lastSeq)))
	if err != nil {
		t.Fatal(err)
	}
	if data, err := decode(buf); err != nil || string(data) != fmt.Sprintf("r-%d", n) {
		t.Fatalf("newest rejected record = %q, %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(rej, recName(lastSeq-keepRejected))); !os.IsNotExist(err) {
		t.Fatalf("oldest rejected record still there: %v", err)
	}

	// Numbering never collides with a set-aside record, even when the queue
	// is empty at the next Open.
	drain(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, Options{Dir: dir})
	appendAll(t, s, "after")
	if seq, _, _, _ := s.Peek(); seq <= lastSeq {
		t.Fatalf("new record got seq %d, want above the newest rejected, %d", seq, lastSeq)
	}
}

func TestUnknownSeqIsNoOp(t *testing.T) {
	s := openT(t, Options{Dir: t.TempDir()})
	appendAll(t, s, "r-1")
	if err := s.Remove(999); err != nil {
		t.Fatalf("Remove(unknown) = %v", err)
	}
	if err := s.SetAside(999, "why"); err != nil {
		t.Fatalf("SetAside(unknown) = %v", err)
	}
	if s.Len() != 1 {
		t.Fatalf("Len = %d, want 1", s.Len())
	}
}

func TestNotify(t *testing.T) {
	s := openT(t, Options{Dir: t.TempDir()})
	select {
	case <-s.Notify():
		t.Fatal("Notify fired before any Append")
	default:
	}
	appendAll(t, s, "r-1", "r-2") // two appends, one pending signal
	<-s.Notify()
	select {
	case <-s.Notify():
		t.Fatal("Notify holds more than one signal")
	default:
	}
}

func TestConcurrentUse(t *testing.T) {
	s := openT(t, Options{Dir: t.TempDir()})
	const producers, each = 4, 50
	done := make(chan error, producers)
	for p := range producers {
		go func() {
			for i := range each {
				if err := s.Append(fmt.Appendf(nil, "%d-%d", p, i)); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	last := map[int]int{}
	for got := 0; got < producers*each; {
		seq, data, ok, err := s.Peek()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			<-s.Notify()
			continue
		}
		var p, i int
		if _, err := fmt.Sscanf(string(data), "%d-%d", &p, &i); err != nil {
			t.Fatalf("record %q: %v", data, err)
		}
		if prev, seen := last[p]; seen && i != prev+1 {
			t.Fatalf("producer %d: record %d after %d", p, i, prev)
		}
		last[p] = i
		if err := s.Remove(seq); err != nil {
			t.Fatal(err)
		}
		got++
	}
	for range producers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != 0 || s.Bytes() != 0 {
		t.Fatalf("after consuming everything Len = %d, Bytes = %d", s.Len(), s.Bytes())
	}
}

// flipBit returns a copy of buf with one bit of byte i flipped.
func flipBit(buf []byte, i int) []byte {
	out := bytes.Clone(buf)
	out[i] ^= 0x10
	return out
}
