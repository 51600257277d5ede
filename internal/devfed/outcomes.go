package devfed

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/empirefederation/neuron/internal/devfed/store"
)

// Event types whose data resolves an outcome (the neuron's control
// package emits them).
const (
	eventCommandExecuted = "command_executed"
	eventConfigApplied   = "config_applied"
	eventConfigRejected  = "config_rejected"
	// eventVariantStopped is a guardrail stopping an experiment variant.
	eventVariantStopped = "experiment_variant_stopped"
)

// acknowledge records that neuron n runs update version rev (a heartbeat's
// configVersion, a push answered 200, a config_applied event): its pending
// deliveries up to rev are applied (status) and a stop up to rev is no
// longer served. A rev past the last one issued (a neuron remembering a
// federation whose data directory was wiped) is ignored.
func acknowledge(tx *store.Tx, n string, rev int64, status, detail string, at time.Time) error {
	last, err := tx.LastRev("")
	if err != nil || rev <= 0 || rev > last {
		return err
	}
	if err := tx.SetAcked(n, rev); err != nil {
		return err
	}
	return tx.ResolveDeliveries(n, rev, status, detail, at)
}

// refuse records that neuron n refused the update of version version
// (revision rev, 0 for a command-only update) with reasons. The changes
// it blames are rejected for n, and so left out of every update n is
// served from now on, after n registers again too (see effectiveUpdate):
// the layers the update carried (layers) that n had not acknowledged
// yet, the changes it brought; all of them when n had acknowledged every
// one (the neuron now refuses what it took before: its local config
// changed). Its other pending deliveries up to rev are rejected too (it
// carried them); the commands served in it are rejected; and a stop with
// promote it carried is served without promote from now on (a neuron
// refuses a stop with promote of an experiment it no longer runs; a plain
// stop it always takes). A rev past the last one issued is ignored, as in
// acknowledge.
func refuse(tx *store.Tx, n store.Neuron, version string, rev int64, layers []int64, reasons []string, at time.Time) error {
	detail := strings.Join(reasons, "; ")
	last, err := tx.LastRev("")
	if err != nil {
		return err
	}
	if rev > last {
		rev = 0
	}
	if rev > 0 {
		for _, l := range blamed(layers, n.AckedRev) {
			if err := tx.PutDelivery(store.Delivery{Rev: l, NeuronID: n.ID, Status: store.DeliveryRejected, Detail: detail, At: at}); err != nil {
				return err
			}
		}
		if err := tx.ResolveDeliveries(n.ID, rev, store.DeliveryRejected, detail, at); err != nil {
			return err
		}
	}
	cmds, err := tx.CommandsServedIn(n.ID, n.Lineage, servedKey(version))
	if err != nil {
		return err
	}
	outcome, _ := json.Marshal(map[string]any{"rejected": true, "reasons": reasons}) // strings: cannot fail
	for _, c := range cmds {
		if _, err := tx.ResolveCommand(c.ID, store.CommandRejected, outcome, at); err != nil {
			return err
		}
	}
	if n.ServedExperiment == "" || rev == 0 {
		return nil
	}
	x, found, err := tx.Experiment(n.ServedExperiment)
	if err != nil || !found {
		return err
	}
	if x.Status == store.ExperimentStopped && x.StopRev <= rev && n.AckedRev < x.StopRev && x.Promote != "" {
		return tx.SetStopPlain(n.ID, x.ID)
	}
	return nil
}

// blamed are the layers of a refused update that the neuron had not
// acknowledged (the changes it brought), or all of them when it had
// acknowledged every one.
func blamed(layers []int64, acked int64) []int64 {
	var out []int64
	for _, l := range layers {
		if l > acked {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return layers
	}
	return out
}

// resolveCommand records a command's outcome as n reported it (the
// Outcome of internal/control: ok, error, result...), unless one is
// recorded already (the first report wins). It returns whether the
// command was unresolved until now. An outcome "running" (the neuron
// answered before the command ended) marks it running, unresolved.
//
// Only the instance the command was sent to resolves it: n must be the
// command's neuron and of the lineage it was sent to. An outcome from
// another instance of the id (one that took it over once the holder was
// offline) is not recorded, only logged and counted: the command may have
// run, or be running, where it was sent, and that is not known here.
func (s *Server) resolveCommand(tx *store.Tx, n store.Neuron, id string, outcome json.RawMessage, at time.Time) (bool, error) {
	var o struct {
		OK      bool `json:"ok"`
		Running bool `json:"running"`
	}
	_ = json.Unmarshal(outcome, &o) // a malformed outcome counts as failed, and is kept as sent
	outcome = withoutRepeat(outcome)
	c, found, err := tx.Command(id)
	if err != nil || !found || c.NeuronID != n.ID {
		return false, err
	}
	if c.ServedLineage != n.Lineage {
		s.metrics.foreign.Inc()
		s.log.Warn("command outcome refused: reported by another instance than the one it was sent to",
			"neuron", n.ID, "command", id, "sent_to", c.ServedLineage, "reported_by", n.Lineage, "instance", n.Instance)
		return false, nil
	}
	status := store.CommandFailed
	switch {
	case o.Running: // no outcome yet: a command_executed event brings it
		status = store.CommandRunning
	case o.OK:
		status = store.CommandSucceeded
	}
	return tx.ResolveCommand(id, status, outcome, at)
}

// withoutRepeat drops the "repeated" marker from a command's outcome: a
// neuron answers a command it ran before (from its poll, while the push
// was on its way) with that first run's outcome marked repeated, and the
// outcome to keep is the run's, not the marker.
func withoutRepeat(outcome json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(outcome, &m) != nil {
		return outcome
	}
	if _, found := m["repeated"]; !found {
		return outcome
	}
	delete(m, "repeated")
	b, err := json.Marshal(m)
	if err != nil {
		return outcome
	}
	return b
}

// resolveFromEvent lets an analytics event resolve an outcome:
// command_executed (data.id a command id), config_applied and
// config_rejected (data.version an update version).
func (s *Server) resolveFromEvent(tx *store.Tx, n store.Neuron, typ string, data json.RawMessage, at time.Time) error {
	var d struct {
		ID      string   `json:"id"`
		Version string   `json:"version"`
		Reasons []string `json:"reasons"`
	}
	if typ != eventCommandExecuted && typ != eventConfigApplied && typ != eventConfigRejected {
		return nil
	}
	if json.Unmarshal(data, &d) != nil {
		return nil // not the shape the neuron emits: nothing to resolve
	}
	rev, _ := parseVersion(d.Version)
	switch typ {
	case eventCommandExecuted:
		if d.ID != "" {
			_, err := s.resolveCommand(tx, n, d.ID, data, at)
			return err
		}
	case eventConfigApplied:
		return acknowledge(tx, n.ID, rev, store.DeliveryApplied, "config_applied event: the neuron runs "+d.Version, at)
	case eventConfigRejected:
		if rev > 0 || d.Version == "" {
			layers, err := layersOf(tx, n, rev)
			if err != nil {
				return err
			}
			return refuse(tx, n, d.Version, rev, layers, d.Reasons, at)
		}
	}
	return nil
}

// layersOf are the layers of the update of revision rev that neuron n
// was served: those of its effective update, when that still has revision
// rev (none when a newer change has come since: the refusal then
// rejects its pending deliveries only).
func layersOf(tx *store.Tx, n store.Neuron, rev int64) ([]int64, error) {
	e, err := effectiveUpdate(tx, n)
	if err != nil || rev == 0 || e.Rev != rev {
		return nil, err
	}
	return e.Layers, nil
}

// servedKey is what a command records as the version it was served in:
// the update's version, or "(none)" for an update with only a command (so
// that it differs from never served).
func servedKey(version string) string {
	if version == "" {
		return "(none)"
	}
	return version
}
