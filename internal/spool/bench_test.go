package spool

import (
	"bytes"
	"testing"
)

// benchRecord is the size of a typical analytics report.
var benchRecord = bytes.Repeat([]byte("x"), 4<<10)

// BenchmarkAppend measures one durable Append of a 4 KiB report: a file
// write, two fsyncs (file, directory) and a rename. The figure depends on
// the disk under the temporary directory (tmpfs makes fsync free).
func BenchmarkAppend(b *testing.B) {
	s := openT(b, Options{Dir: b.TempDir(), MaxItems: 1 << 30, MaxBytes: 1 << 40})
	b.SetBytes(int64(len(benchRecord)))
	for b.Loop() {
		if err := s.Append(benchRecord); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendPeekRemove measures the full life of a report when the
// federation answers at once: Append, Peek, Remove.
func BenchmarkAppendPeekRemove(b *testing.B) {
	s := openT(b, Options{Dir: b.TempDir()})
	b.SetBytes(int64(len(benchRecord)))
	for b.Loop() {
		if err := s.Append(benchRecord); err != nil {
			b.Fatal(err)
		}
		seq, _, _, err := s.Peek()
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Remove(seq); err != nil {
			b.Fatal(err)
		}
	}
}
