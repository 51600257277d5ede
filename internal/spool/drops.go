package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// stateFile persists the drop accounting.
const stateFile = "dropped.state"

// dropState is what survives a restart about dropped records.
type dropState struct {
	// pending counts drops not yet handed out by TakeDropped.
	pending uint64
	// through is the highest sequence number ever dropped. A record file
	// at or below it found at Open was dropped (and counted) already: its
	// deletion just did not reach the disk.
	through uint64
}

// saveState durably replaces the state file with st.
func (s *Spool) saveState(st dropState) error {
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:], st.pending)
	binary.BigEndian.PutUint64(buf[8:], st.through)
	if err := writeFileAtomic(s.dir, stateFile, encode(buf[:])); err != nil {
		return fmt.Errorf("save drop count: %w", withHint(err, s.dir))
	}
	return nil
}

// loadState reads the state file; a missing file is a fresh spool. A
// corrupt one is logged and reset: the drop count is lost, the records are
// not.
func (s *Spool) loadState() error {
	buf, err := os.ReadFile(filepath.Join(s.dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read drop count: %w", err)
	}
	data, err := decode(buf)
	if err == nil && len(data) != 16 {
		err = fmt.Errorf("%w: %d bytes of state, want 16", errCorrupt, len(data))
	}
	if err != nil {
		s.log.Warn("spool: drop count unreadable, starting from zero", "dir", s.dir, "err", err)
		s.stats.Corrupt++
		return nil
	}
	s.drops = dropState{
		pending: binary.BigEndian.Uint64(data),
		through: binary.BigEndian.Uint64(data[8:]),
	}
	return nil
}

// makeRoom drops the oldest records until the spool is within its bounds.
// The new count is persisted before any file is deleted, so a crash in
// between neither loses nor double-counts the drop.
func (s *Spool) makeRoom() error {
	k, freed := 0, int64(0)
	for len(s.queue)-k > s.maxItems || s.bytes-freed > s.maxBytes {
		freed += s.queue[k].size
		k++
	}
	if k == 0 {
		return nil
	}
	victims := s.queue[:k]
	st := dropState{
		pending: s.drops.pending + uint64(k),
		through: max(s.drops.through, victims[k-1].seq),
	}
	if err := s.saveState(st); err != nil {
		return err
	}
	s.drops = st
	s.stats.Dropped += uint64(k)
	for _, v := range victims {
		if err := removeFile(filepath.Join(s.dir, recName(v.seq))); err != nil {
			// Open deletes it: its seq is at or below drops.through.
			s.log.Warn("spool: could not delete dropped record", "seq", v.seq, "err", err)
		}
	}
	s.log.Warn("spool: full, dropped the oldest records", "dir", s.dir, "dropped", k,
		"from_seq", victims[0].seq, "to_seq", victims[k-1].seq, "max_items", s.maxItems, "max_bytes", s.maxBytes)
	s.queue = slices.Delete(s.queue, 0, k)
	s.bytes -= freed
	return nil
}

// TakeDropped returns how many records were dropped for lack of room since
// the previous call (or, across a restart, since the last call of the
// previous process) and resets that count, so each drop is reported once.
func (s *Spool) TakeDropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.drops.pending
	if n == 0 || s.lock == nil {
		return 0
	}
	st := dropState{through: s.drops.through}
	if err := s.saveState(st); err != nil {
		// Hand the count out anyway: it may be reported again after a
		// restart, which beats never reporting it.
		s.log.Warn("spool: could not persist the reset drop count", "err", err)
	}
	s.drops = st
	return n
}
