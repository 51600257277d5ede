package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/empirefederation/neuron/internal/atomicfile"
)

// recover rebuilds the queue from the directory at Open.
func (s *Spool) recover() error {
	if err := s.loadState(); err != nil {
		return err
	}
	names, err := readNames(s.dir)
	if err != nil {
		return err
	}
	removed := false
	for _, name := range names {
		gone, err := s.recoverFile(name)
		if err != nil {
			return err
		}
		removed = removed || gone
	}
	slices.SortFunc(s.queue, func(a, b entry) int { return compareSeq(a.seq, b.seq) })
	s.next = s.drops.through + 1
	if n := len(s.queue); n > 0 {
		s.next = max(s.next, s.queue[n-1].seq+1)
	}
	rejected, err := s.pruneRejected()
	if err != nil {
		return err
	}
	if len(rejected) > 0 {
		s.next = max(s.next, rejected[len(rejected)-1]+1)
	}
	if removed {
		if err := atomicfile.SyncDir(s.dir); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	}
	if err := s.makeRoom(); err != nil {
		return fmt.Errorf("enforce bounds: %w", err)
	}
	if len(s.queue) > 0 {
		s.log.Info("spool: recovered queued records", "dir", s.dir, "items", len(s.queue), "bytes", s.bytes)
	}
	return nil
}

// recoverFile queues, removes or ignores one directory entry, and says
// whether it removed it.
func (s *Spool) recoverFile(name string) (bool, error) {
	path := filepath.Join(s.dir, name)
	if strings.HasSuffix(name, tmpExt) {
		s.log.Info("spool: removing an unfinished write left by a crash", "file", path)
		return true, removeFile(path)
	}
	seq, ok := parseName(name, recExt)
	if !ok {
		return false, nil // lock, state, rejected/, or not ours.
	}
	if seq <= s.drops.through {
		// Dropped and counted before a crash; only its deletion was lost.
		return true, removeFile(path)
	}
	buf, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("read record: %w", err)
	}
	if _, err := decode(buf); err != nil {
		s.log.Warn("spool: removing corrupt record", "file", path, "err", err)
		s.stats.Corrupt++
		return true, removeFile(path)
	}
	s.queue = append(s.queue, entry{seq, int64(len(buf))})
	s.bytes += int64(len(buf))
	return false, nil
}

// readNames lists the names in dir.
func readNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// compareSeq orders sequence numbers.
func compareSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// isNotExist reports whether err says a file is missing.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
