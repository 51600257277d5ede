package devfed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/devfed/store"
)

// versionPrefix starts every update version the federation issues:
// "fed-" and the revision.
const versionPrefix = "fed-"

// effective is a neuron's effective update and what it is made of.
type effective struct {
	Update federation.Update
	// Rev is the revision in Update.Version (0 when it has none).
	Rev int64
	// Started is the id of the running experiment it carries; Stopped
	// the id of the experiment whose stop it carries ("" for none).
	Started, Stopped string
	// Command is the id of the command it carries ("" for none).
	Command string
	// Layers are the revisions of the config layers and the running
	// experiment it carries: what a refusal of it blames (see refuse).
	Layers []int64
}

// empty reports whether there is nothing to deliver.
func (e effective) empty() bool { return e.Update.Empty() }

// effectiveUpdate computes what neuron n should run now, leaving out
// every revision n refused (its delivery to n is rejected), so that a
// refused change never rides along with a later one:
//
//   - config: the fleet's newest config n did not refuse, overlaid by n's
//     own newest one it did not refuse (n wins per top-level key);
//   - experiment: the one running on n, else the one running on the
//     fleet (one whose start n refused does not count), else the stop of
//     the experiment last served to n, until n acknowledges a version at
//     or past that stop (without its promote once n refused the stop with
//     it);
//   - version: "fed-" + the highest config or experiment revision aimed
//     at the fleet or n that n did not refuse, so that every change makes
//     a new version (see docs/dev-federation.md, "Delivery"); after a
//     refusal it is the version n runs still, which n answers unchanged;
//   - command: n's oldest command not yet resolved that is its lineage's
//     (not sent yet, or sent to this lineage), with issuedAt its creation
//     time (the neuron refuses one older than its command ledger's window).
func effectiveUpdate(tx *store.Tx, n store.Neuron) (effective, error) {
	var e effective
	cfg, err := mergedConfig(tx, n.ID, &e)
	if err != nil {
		return e, err
	}
	e.Update.Config = cfg
	if err := experimentPart(tx, n, &e); err != nil {
		return e, err
	}
	if e.Update.Config != nil || e.Update.Experiment != nil {
		if e.Rev, err = tx.LastRev(n.ID); err != nil {
			return e, err
		}
		e.Update.Version = versionOf(e.Rev)
	}
	cmd, found, err := tx.NextCommand(n.ID, n.Lineage)
	if err != nil || !found {
		return e, err
	}
	e.Command = cmd.ID
	e.Update.Command = &federation.Command{ID: cmd.ID, Type: cmd.Type, Data: cmd.Data, IssuedAt: cmd.CreatedAt}
	return e, nil
}

// mergedConfig is the fleet config overlaid by the neuron's own, each the
// newest the neuron did not refuse; nil when there is neither. It adds
// their revisions to e's layers.
func mergedConfig(tx *store.Tx, neuron string, e *effective) (map[string]any, error) {
	var merged map[string]any
	for _, target := range []string{store.TargetFleet, neuron} {
		c, found, err := tx.LatestConfig(target, neuron)
		if err != nil || !found {
			if err != nil {
				return nil, err
			}
			continue
		}
		var m map[string]any
		if err := decodeNumbers(c.Config, &m); err != nil {
			return nil, fmt.Errorf("config rev %d: %w", c.Rev, err)
		}
		if merged == nil {
			merged = map[string]any{}
		}
		maps.Copy(merged, m)
		e.Layers = append(e.Layers, c.Rev)
	}
	return merged, nil
}

// experimentPart sets e's experiment: running on the neuron, else on the
// fleet (unless the neuron refused its start), else a stop still to
// acknowledge.
func experimentPart(tx *store.Tx, n store.Neuron, e *effective) error {
	for _, target := range []string{n.ID, store.TargetFleet} {
		x, found, err := tx.RunningExperiment(target)
		if err != nil {
			return err
		}
		if found {
			if refused, err := tx.Refused(n.ID, x.StartRev); err != nil || refused {
				if err != nil {
					return err
				}
				continue
			}
			var spec federation.Experiment
			if err := decodeNumbers(x.Spec, &spec); err != nil {
				return fmt.Errorf("experiment %s: %w", x.ID, err)
			}
			e.Update.Experiment, e.Started = &spec, x.ID
			e.Layers = append(e.Layers, x.StartRev)
			return nil
		}
	}
	if n.ServedExperiment == "" {
		return nil
	}
	x, found, err := tx.Experiment(n.ServedExperiment)
	if err != nil || !found {
		return err
	}
	if x.Status == store.ExperimentStopped && n.AckedRev < x.StopRev {
		e.Update.Experiment = &federation.Experiment{ID: x.ID, Stop: true, Promote: x.Promote}
		if n.StopPlain == x.ID {
			e.Update.Experiment.Promote = ""
		}
		e.Stopped = x.ID
	}
	return nil
}

// decodeNumbers decodes JSON into v with numbers as json.Number, so that
// integers stay exact on their way to the neuron.
func decodeNumbers(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

// versionOf is the update version of revision rev: "fed-12".
func versionOf(rev int64) string { return versionPrefix + strconv.FormatInt(rev, 10) }

// parseVersion returns the revision of a version the federation issued
// ("fed-12" is 12); ok is false for any other version.
func parseVersion(v string) (rev int64, ok bool) {
	digits, found := strings.CutPrefix(v, versionPrefix)
	if !found {
		return 0, false
	}
	rev, err := strconv.ParseInt(digits, 10, 64)
	return rev, err == nil && rev > 0
}
