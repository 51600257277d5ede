package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Revision kinds: what an admin change was.
const (
	KindConfig          = "config"
	KindExperimentStart = "experiment_start"
	KindExperimentStop  = "experiment_stop"
	KindCommand         = "command"
)

// TargetFleet is the target of a change that concerns every neuron.
const TargetFleet = "fleet"

// NewRev takes the next revision number of the one global sequence, for a
// change of kind to target.
func (tx *Tx) NewRev(kind, target string, at time.Time) (int64, error) {
	res, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO revisions (kind, target, at) VALUES (?, ?, ?)`, kind, target, ms(at))
	if err != nil {
		return 0, fmt.Errorf("store: new revision: %w", err)
	}
	rev, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("store: new revision: %w", err)
	}
	return rev, nil
}

// refusedBy selects the revisions whose delivery to a neuron (the
// parameter) was rejected: the neuron refused the update that carried
// them.
const refusedBy = `SELECT rev FROM deliveries WHERE neuron_id = ? AND status = '` + DeliveryRejected + `'`

// LastRev is the highest revision of a config or experiment change whose
// target is the fleet or neuron, and which neuron did not refuse (any
// target when neuron is ""): the version a neuron's effective update
// has. Commands do not count (they carry their own id).
func (tx *Tx) LastRev(neuron string) (int64, error) {
	q := `SELECT coalesce(max(rev), 0) FROM revisions WHERE kind != ?`
	args := []any{KindCommand}
	if neuron != "" {
		q += ` AND target IN (?, ?) AND rev NOT IN (` + refusedBy + `)`
		args = append(args, TargetFleet, neuron, neuron)
	}
	var rev int64
	if err := tx.tx.QueryRowContext(tx.ctx, q, args...).Scan(&rev); err != nil {
		return 0, fmt.Errorf("store: last revision: %w", err)
	}
	return rev, nil
}

// Config is a config set on a target at revision Rev.
type Config struct {
	Rev       int64
	Target    string
	Config    json.RawMessage // an object
	CreatedAt time.Time
}

// AddConfig stores c, which becomes its target's config.
func (tx *Tx) AddConfig(c Config) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO configs (rev, target, config, created_at) VALUES (?, ?, ?, ?)`,
		c.Rev, c.Target, string(c.Config), ms(c.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: add config for %s: %w", c.Target, err)
	}
	return nil
}

// Configs returns the configs set on target (every target when ""),
// newest first: the history.
func (tx *Tx) Configs(target string) ([]Config, error) {
	return tx.configs(`SELECT rev, target, config, created_at FROM configs WHERE ? IN ('', target) ORDER BY rev DESC`, target)
}

// LatestConfig returns target's newest config that neuron did not
// refuse: what neuron runs of target's config layer; found is false when
// there is none.
func (tx *Tx) LatestConfig(target, neuron string) (c Config, found bool, err error) {
	cs, err := tx.configs(`SELECT rev, target, config, created_at FROM configs WHERE target = ?
		AND rev NOT IN (`+refusedBy+`) ORDER BY rev DESC LIMIT 1`, target, neuron)
	if err != nil || len(cs) == 0 {
		return Config{}, false, err
	}
	return cs[0], true, nil
}

func (tx *Tx) configs(q string, args ...any) ([]Config, error) {
	target, _ := args[0].(string)
	rows, err := tx.tx.QueryContext(tx.ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: configs of %q: %w", target, err)
	}
	return collect(rows, func(r *sql.Rows) (Config, error) {
		var c Config
		var cfg string
		var at int64
		err := r.Scan(&c.Rev, &c.Target, &cfg, &at)
		c.Config, c.CreatedAt = json.RawMessage(cfg), msTime(at)
		return c, err
	})
}

// Experiment status values.
const (
	ExperimentRunning = "running"
	ExperimentStopped = "stopped"
)

// Experiment is an experiment started on a target: Spec is the experiment
// object as sent to neurons. StopRev and StoppedAt are zero while it runs.
type Experiment struct {
	ID, Target        string
	Spec              json.RawMessage
	Status            string
	StartRev, StopRev int64
	Promote           string
	CreatedAt         time.Time
	StoppedAt         time.Time
}

const experimentCols = `id, target, spec, status, start_rev, coalesce(stop_rev, 0), promote, created_at, stopped_at`

func scanExperiment(r interface{ Scan(...any) error }) (Experiment, error) {
	var e Experiment
	var spec string
	var created int64
	var stopped sql.NullInt64
	err := r.Scan(&e.ID, &e.Target, &spec, &e.Status, &e.StartRev, &e.StopRev, &e.Promote, &created, &stopped)
	e.Spec, e.CreatedAt = json.RawMessage(spec), msTime(created)
	if stopped.Valid {
		e.StoppedAt = msTime(stopped.Int64)
	}
	return e, err
}

// AddExperiment stores e as running.
func (tx *Tx) AddExperiment(e Experiment) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO experiments (id, target, spec, status, start_rev, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, e.ID, e.Target, string(e.Spec), ExperimentRunning, e.StartRev, ms(e.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: add experiment %s: %w", e.ID, err)
	}
	return nil
}

// StopExperiment marks experiment id stopped at revision rev, promoting
// variant promote ("" for none).
func (tx *Tx) StopExperiment(id string, rev int64, promote string, at time.Time) error {
	_, err := tx.tx.ExecContext(tx.ctx, `UPDATE experiments SET status = ?, stop_rev = ?, promote = ?, stopped_at = ?
		WHERE id = ?`, ExperimentStopped, rev, promote, ms(at), id)
	if err != nil {
		return fmt.Errorf("store: stop experiment %s: %w", id, err)
	}
	return nil
}

// Experiment returns experiment id; found is false when there is none.
func (tx *Tx) Experiment(id string) (e Experiment, found bool, err error) {
	e, err = scanExperiment(tx.tx.QueryRowContext(tx.ctx, `SELECT `+experimentCols+` FROM experiments WHERE id = ?`, id))
	return one(e, err, "experiment "+id)
}

// Experiments returns every experiment, newest first.
func (tx *Tx) Experiments() ([]Experiment, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT `+experimentCols+` FROM experiments ORDER BY start_rev DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: list experiments: %w", err)
	}
	return collect(rows, func(r *sql.Rows) (Experiment, error) { return scanExperiment(r) })
}

// RunningExperiment returns the experiment running on target; found is
// false when none runs there.
func (tx *Tx) RunningExperiment(target string) (e Experiment, found bool, err error) {
	e, err = scanExperiment(tx.tx.QueryRowContext(tx.ctx, `SELECT `+experimentCols+` FROM experiments
		WHERE target = ? AND status = ? ORDER BY start_rev DESC LIMIT 1`, target, ExperimentRunning))
	return one(e, err, "running experiment of "+target)
}
