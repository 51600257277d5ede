package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Neuron is a registered neuron: its current registration and the summary
// of its last heartbeat.
type Neuron struct {
	ID, Name, Type, Language, Version, BaseURL string
	// Instance identifies the process holding the id: its baseUrl, or its
	// remote IP when it gave none.
	Instance string
	// Registration is the body of the current registration, as sent.
	Registration json.RawMessage
	// RegistrationID is the current registration's id, the jti of the
	// only token accepted for this neuron; Token is that token.
	RegistrationID, Token string
	// Lineage identifies the instance holding the id across its
	// registrations: kept when a registration presents the id's current
	// token (the same instance again, renewing or restarted with its kept
	// token), new on the id's first registration and when a new instance
	// takes the id over. A command's outcome is accepted only from the
	// lineage it was sent to (Command.ServedLineage).
	Lineage      string
	RegisteredAt time.Time
	// LastHeartbeat is zero until the first heartbeat of the current
	// holder; Status is that heartbeat's status.
	LastHeartbeat time.Time
	Status        string
	// HealthScore and the metrics are nil when the last heartbeat did not
	// carry them.
	HealthScore, CPU, Memory, RPS, AvgResponseTime *float64
	ConfigVersion, BuildVersion                    string
	// AckedRev is the highest update revision the neuron acknowledged
	// (configVersion "fed-N" of a heartbeat, a push answer or an event).
	AckedRev int64
	// ServedExperiment is the id of the last experiment served to it.
	ServedExperiment string
	// StopPlain is the id of a stopped experiment whose stop the neuron
	// refused with its promote: it is served without promote.
	StopPlain string
}

const neuronCols = `id, name, type, language, version, base_url, instance, registration, registration_id, token,
	registered_at, last_heartbeat, status, health_score, cpu, memory, rps, avg_response_time,
	config_version, build_version, acked_rev, served_experiment, stop_plain, lineage`

func scanNeuron(sc interface{ Scan(...any) error }) (Neuron, error) {
	var n Neuron
	var reg string
	var registered int64
	var last sql.NullInt64
	err := sc.Scan(&n.ID, &n.Name, &n.Type, &n.Language, &n.Version, &n.BaseURL, &n.Instance, &reg,
		&n.RegistrationID, &n.Token, &registered, &last, &n.Status, &n.HealthScore, &n.CPU, &n.Memory,
		&n.RPS, &n.AvgResponseTime, &n.ConfigVersion, &n.BuildVersion, &n.AckedRev, &n.ServedExperiment, &n.StopPlain, &n.Lineage)
	if err != nil {
		return Neuron{}, err
	}
	n.Registration = json.RawMessage(reg)
	n.RegisteredAt = msTime(registered)
	if last.Valid {
		n.LastHeartbeat = msTime(last.Int64)
	}
	return n, nil
}

// Neuron returns the neuron id; found is false when none has registered
// under it.
func (tx *Tx) Neuron(id string) (n Neuron, found bool, err error) {
	n, err = scanNeuron(tx.tx.QueryRowContext(tx.ctx, `SELECT `+neuronCols+` FROM neurons WHERE id = ?`, id))
	return one(n, err, "neuron "+id)
}

// Neurons returns every neuron, sorted by id.
func (tx *Tx) Neurons() ([]Neuron, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT `+neuronCols+` FROM neurons ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list neurons: %w", err)
	}
	return collect(rows, func(r *sql.Rows) (Neuron, error) { return scanNeuron(r) })
}

// CountNeurons returns how many neurons are kept.
func (tx *Tx) CountNeurons() (int, error) {
	var n int
	if err := tx.tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM neurons`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count neurons: %w", err)
	}
	return n, nil
}

// ExpireNeurons deletes the neurons that have shown no life (heartbeat, or
// registration before the first) since before, with what cascades (their
// registrations and telemetry) and their deliveries; their commands stay,
// as the admin's history. It returns how many were deleted.
func (tx *Tx) ExpireNeurons(before time.Time) (int64, error) {
	const gone = `SELECT id FROM neurons WHERE coalesce(last_heartbeat, registered_at) < ?`
	if _, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM deliveries WHERE neuron_id IN (`+gone+`)`, ms(before)); err != nil {
		return 0, fmt.Errorf("store: expire neurons: %w", err)
	}
	res, err := tx.tx.ExecContext(tx.ctx, `DELETE FROM neurons WHERE coalesce(last_heartbeat, registered_at) < ?`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("store: expire neurons: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// Register records a registration of n (ID, Name, Type, Language, Version,
// BaseURL, Instance, Registration, RegistrationID, Token, Lineage,
// RegisteredAt) from remote: the caller keeps the current Lineage for a
// registration proven by the id's current token and gives a new one
// otherwise. The neuron row is created or replaced; with fresh true the
// heartbeat summary is cleared (a new holder, or one back from offline or
// stopping), else it is kept (a live neuron registering again). What the
// neuron refused stays refused (its rejected deliveries).
func (tx *Tx) Register(n Neuron, remote string, fresh bool) error {
	if n.Lineage == "" {
		return fmt.Errorf("store: register %s: no lineage (keep the current one for a token-proven registration, else a new one)", n.ID)
	}
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO neurons (id, name, type, language, version, base_url, instance,
		registration, registration_id, token, lineage, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, type = excluded.type, language = excluded.language,
		version = excluded.version, base_url = excluded.base_url, instance = excluded.instance,
		registration = excluded.registration, registration_id = excluded.registration_id, token = excluded.token,
		lineage = excluded.lineage, registered_at = excluded.registered_at`,
		n.ID, n.Name, n.Type, n.Language, n.Version, n.BaseURL, n.Instance, string(n.Registration),
		n.RegistrationID, n.Token, n.Lineage, ms(n.RegisteredAt))
	if err != nil {
		return fmt.Errorf("store: register %s: %w", n.ID, err)
	}
	if fresh {
		_, err = tx.tx.ExecContext(tx.ctx, `UPDATE neurons SET last_heartbeat = NULL, status = '', health_score = NULL,
			cpu = NULL, memory = NULL, rps = NULL, avg_response_time = NULL WHERE id = ?`, n.ID)
		if err != nil {
			return fmt.Errorf("store: register %s: %w", n.ID, err)
		}
	}
	_, err = tx.tx.ExecContext(tx.ctx, `INSERT INTO registrations (id, neuron_id, instance, remote, at) VALUES (?, ?, ?, ?, ?)`,
		n.RegistrationID, n.ID, n.Instance, remote, ms(n.RegisteredAt))
	if err != nil {
		return fmt.Errorf("store: register %s: %w", n.ID, err)
	}
	return nil
}

// SetAcked raises the neuron's acknowledged revision to rev (never lowers
// it).
func (tx *Tx) SetAcked(id string, rev int64) error {
	_, err := tx.tx.ExecContext(tx.ctx, `UPDATE neurons SET acked_rev = max(acked_rev, ?) WHERE id = ?`, rev, id)
	if err != nil {
		return fmt.Errorf("store: acknowledge rev %d for %s: %w", rev, id, err)
	}
	return nil
}

// SetServedExperiment records the experiment last served to the neuron
// ("" forgets it).
func (tx *Tx) SetServedExperiment(id, experiment string) error {
	_, err := tx.tx.ExecContext(tx.ctx, `UPDATE neurons SET served_experiment = ? WHERE id = ?`, experiment, id)
	if err != nil {
		return fmt.Errorf("store: record experiment served to %s: %w", id, err)
	}
	return nil
}

// SetStopPlain records that the neuron refused the stop of experiment
// with its promote: the stop is served to it without promote from now on.
func (tx *Tx) SetStopPlain(id, experiment string) error {
	_, err := tx.tx.ExecContext(tx.ctx, `UPDATE neurons SET stop_plain = ? WHERE id = ?`, experiment, id)
	if err != nil {
		return fmt.Errorf("store: record plain stop for %s: %w", id, err)
	}
	return nil
}
