package spool

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/empirefederation/neuron/internal/atomicfile"
)

// SetAside moves record seq to Dir/rejected/, with reason in a sidecar
// file (SEQ.reason), so that a report the receiver refuses for good is kept
// for inspection instead of retried forever. rejected/ keeps the newest 100
// records. Setting aside a sequence number that is not queued is a no-op.
func (s *Spool) SetAside(seq uint64, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return fmt.Errorf("spool: set aside: %w", ErrClosed)
	}
	i, found := s.find(seq)
	if !found {
		return nil
	}
	rej := filepath.Join(s.dir, rejectedDir)
	base := strings.TrimSuffix(recName(seq), recExt)
	if err := writeFileAtomic(rej, base+reasonExt, []byte(reason+"\n")); err != nil {
		return fmt.Errorf("spool: set aside %d: write reason: %w", seq, withHint(err, rej))
	}
	if err := os.Rename(filepath.Join(s.dir, recName(seq)), filepath.Join(rej, recName(seq))); err != nil && !isNotExist(err) {
		return fmt.Errorf("spool: set aside %d: %w", seq, withHint(err, rej))
	}
	if err := atomicfile.SyncDir(rej); err != nil {
		return fmt.Errorf("spool: set aside %d: sync: %w", seq, err)
	}
	if err := atomicfile.SyncDir(s.dir); err != nil {
		return fmt.Errorf("spool: set aside %d: sync: %w", seq, err)
	}
	s.unqueue(i)
	s.stats.SetAside++
	s.log.Warn("spool: record set aside", "seq", seq, "file", filepath.Join(rej, recName(seq)), "reason", reason)
	if _, err := s.pruneRejected(); err != nil {
		s.log.Warn("spool: could not prune rejected records", "dir", rej, "err", err)
	}
	return nil
}

// pruneRejected keeps the newest keepRejected records of rejected/ with
// their reasons, removes everything else there (older records, orphan
// reasons, unfinished writes) and returns the sequence numbers kept, in
// ascending order.
func (s *Spool) pruneRejected() ([]uint64, error) {
	rej := filepath.Join(s.dir, rejectedDir)
	names, err := readNames(rej)
	if err != nil {
		return nil, err
	}
	var recs []uint64
	for _, name := range names {
		if seq, ok := parseName(name, recExt); ok {
			recs = append(recs, seq)
		}
	}
	slices.Sort(recs)
	if n := len(recs) - keepRejected; n > 0 {
		recs = recs[n:]
	}
	keep := make(map[string]bool, 2*len(recs))
	for _, seq := range recs {
		base := strings.TrimSuffix(recName(seq), recExt)
		keep[base+recExt], keep[base+reasonExt] = true, true
	}
	for _, name := range names {
		if keep[name] {
			continue
		}
		if err := removeFile(filepath.Join(rej, name)); err != nil {
			return nil, fmt.Errorf("prune rejected: %w", err)
		}
	}
	return recs, nil
}
