package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Command status values.
const (
	CommandPending   = "pending"   // not served yet, or its push failed
	CommandDelivered = "delivered" // served to the neuron's poll; no outcome yet
	CommandRunning   = "running"   // the neuron said it runs; its outcome follows in an event
	CommandSucceeded = "succeeded"
	CommandFailed    = "failed"
	CommandRejected  = "rejected" // the update carrying it was refused whole
)

// Command is a command for one neuron.
type Command struct {
	ID       string
	Rev      int64
	NeuronID string
	Type     string
	Data     json.RawMessage // an object
	Status   string
	// Outcome is the neuron's report of running it (or why it was
	// refused); nil until then.
	Outcome json.RawMessage
	// ServedVersion is the version of the update it was last served in.
	ServedVersion string
	// ServedLineage is the lineage (Neuron.Lineage) of the instance it was
	// last sent to ("" never): only that instance's outcome resolves it,
	// and once delivered (or running) it is served to no other.
	ServedLineage        string
	CreatedAt, UpdatedAt time.Time
}

const commandCols = `id, rev, neuron_id, type, data, status, outcome, served_version, served_lineage, created_at,
	updated_at`

func scanCommand(r interface{ Scan(...any) error }) (Command, error) {
	var c Command
	var data string
	var outcome sql.NullString
	var created, updated int64
	err := r.Scan(&c.ID, &c.Rev, &c.NeuronID, &c.Type, &data, &c.Status, &outcome, &c.ServedVersion, &c.ServedLineage,
		&created, &updated)
	c.Data, c.CreatedAt, c.UpdatedAt = json.RawMessage(data), msTime(created), msTime(updated)
	if outcome.Valid {
		c.Outcome = json.RawMessage(outcome.String)
	}
	return c, err
}

// AddCommand stores c as pending.
func (tx *Tx) AddCommand(c Command) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO commands (id, rev, neuron_id, type, data, status, created_at,
		updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, c.Rev, c.NeuronID, c.Type, string(c.Data), CommandPending,
		ms(c.CreatedAt), ms(c.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: add command %s: %w", c.ID, err)
	}
	return nil
}

// Command returns command id; found is false when there is none.
func (tx *Tx) Command(id string) (c Command, found bool, err error) {
	c, err = scanCommand(tx.tx.QueryRowContext(tx.ctx, `SELECT `+commandCols+` FROM commands WHERE id = ?`, id))
	return one(c, err, "command "+id)
}

// Commands returns the last limit commands of neuron (of every neuron when
// ""), newest first.
func (tx *Tx) Commands(neuron string, limit int) ([]Command, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT `+commandCols+` FROM commands WHERE ? IN ('', neuron_id)
		ORDER BY rev DESC, id DESC LIMIT ?`, neuron, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list commands: %w", err)
	}
	return collect(rows, func(r *sql.Rows) (Command, error) { return scanCommand(r) })
}

// NextCommand returns the neuron's oldest command still pending,
// delivered or running (served again until its outcome arrives, so that
// commands run in order) that is lineage's to run: pending (never
// delivered: not served yet, or its push failed), or sent to lineage. One
// delivered to another lineage (an instance that held the id before) is
// left as it is: it may have run there. found is false when there is none.
func (tx *Tx) NextCommand(neuron, lineage string) (c Command, found bool, err error) {
	c, err = scanCommand(tx.tx.QueryRowContext(tx.ctx, `SELECT `+commandCols+` FROM commands
		WHERE neuron_id = ? AND (status = ? OR status IN (?, ?) AND served_lineage IN ('', ?)) ORDER BY rev, id LIMIT 1`,
		neuron, CommandPending, CommandDelivered, CommandRunning, lineage))
	return one(c, err, "next command of "+neuron)
}

// ServeCommand records that command id was sent to lineage in an update
// of version; a pending command becomes delivered when delivered is true
// (a poll answered), and stays as it is otherwise (a push still in
// flight).
func (tx *Tx) ServeCommand(id, version, lineage string, delivered bool, at time.Time) error {
	q := `UPDATE commands SET served_version = ?, served_lineage = ?, updated_at = ? WHERE id = ?`
	args := []any{version, lineage, ms(at), id}
	if delivered {
		q = `UPDATE commands SET served_version = ?, served_lineage = ?, updated_at = ?,
			status = CASE status WHEN ? THEN ? ELSE status END WHERE id = ?`
		args = []any{version, lineage, ms(at), CommandPending, CommandDelivered, id}
	}
	if _, err := tx.tx.ExecContext(tx.ctx, q, args...); err != nil {
		return fmt.Errorf("store: serve command %s: %w", id, err)
	}
	return nil
}

// ResolveCommand sets the status and outcome of command id, if it is
// still pending, delivered or running (an outcome is final); resolved
// says whether it was. Status running is no outcome: it only moves a
// pending or delivered command on (resolved is false then).
func (tx *Tx) ResolveCommand(id, status string, outcome json.RawMessage, at time.Time) (resolved bool, err error) {
	running := CommandRunning
	if status == CommandRunning {
		running = CommandDelivered // running again changes nothing
	}
	res, err := tx.tx.ExecContext(tx.ctx, `UPDATE commands SET status = ?, outcome = ?, updated_at = ?
		WHERE id = ? AND status IN (?, ?, ?)`, status, string(outcome), ms(at), id, CommandPending, CommandDelivered, running)
	if err != nil {
		return false, fmt.Errorf("store: resolve command %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n > 0 && status != CommandRunning, nil
}

// CommandsServedIn returns the neuron's unresolved commands last sent to
// lineage in an update of version.
func (tx *Tx) CommandsServedIn(neuron, lineage, version string) ([]Command, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT `+commandCols+` FROM commands WHERE neuron_id = ?
		AND served_lineage = ? AND served_version = ? AND status IN (?, ?) ORDER BY rev`, neuron, lineage, version,
		CommandPending, CommandDelivered)
	if err != nil {
		return nil, fmt.Errorf("store: commands of %s served in %q: %w", neuron, version, err)
	}
	return collect(rows, func(r *sql.Rows) (Command, error) { return scanCommand(r) })
}
