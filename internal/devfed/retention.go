package devfed

import (
	"context"
	"time"

	"github.com/empirefederation/neuron/internal/devfed/store"
)

// retentionEvery is how often old telemetry is pruned.
const retentionEvery = time.Minute

// retentionLoop prunes at Open and then every retentionEvery, until
// Close.
func (s *Server) retentionLoop() {
	defer s.loops.Done()
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		if _, _, err := s.prune(context.Background()); err != nil {
			s.log.Error("retention: old telemetry not deleted; trying again in a minute", "err", err)
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// prune deletes the heartbeats, analytics reports and events received
// more than Options.Retention ago (by the federation clock), and past
// registrations as old; and the neurons that have shown no life for
// Options.NeuronExpiry (so that records of long-gone or flooding neurons
// do not pile up). Configs, experiments and commands are kept: they are
// the federation's state, not telemetry.
func (s *Server) prune(ctx context.Context) (p store.Pruned, expired int64, err error) {
	cutoff := s.now().Add(-s.opts.Retention)
	gone := s.now().Add(-s.opts.NeuronExpiry)
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		if expired, err = tx.ExpireNeurons(gone); err != nil {
			return err
		}
		p, err = tx.Prune(cutoff)
		return err
	})
	if err == nil && expired > 0 {
		s.log.Info("retention: neurons offline too long forgotten", "silent_since_before", gone, "neurons", expired)
	}
	if err == nil && p != (store.Pruned{}) {
		s.log.Info("retention: old telemetry deleted", "before", cutoff, "heartbeats", p.Heartbeats,
			"reports", p.Reports, "events", p.Events, "registrations", p.Registrations)
	}
	return p, expired, err
}
