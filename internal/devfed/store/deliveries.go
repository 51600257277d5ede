package store

import (
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Delivery status values: where a change stands on one neuron.
const (
	DeliveryPending   = "pending"
	DeliveryApplied   = "applied"
	DeliveryUnchanged = "unchanged"
	DeliveryRejected  = "rejected"
)

// Delivery is where change Rev stands on one neuron, with what the
// federation last learnt (Detail) and when.
type Delivery struct {
	Rev            int64
	NeuronID       string
	Status, Detail string
	At             time.Time
}

// PutDelivery records d, replacing the delivery of the same rev and
// neuron.
func (tx *Tx) PutDelivery(d Delivery) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO deliveries (rev, neuron_id, status, detail, at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (rev, neuron_id) DO UPDATE SET status = excluded.status, detail = excluded.detail, at = excluded.at`,
		d.Rev, d.NeuronID, d.Status, d.Detail, ms(d.At))
	if err != nil {
		return fmt.Errorf("store: record delivery of rev %d to %s: %w", d.Rev, d.NeuronID, err)
	}
	return nil
}

// ResolveDeliveries sets status and detail on the neuron's pending
// deliveries of revisions up to rev: an answer about an update of version
// fed-rev covers every change it contains. With status pending, only the
// detail changes (a failed push). With status applied, unchanged
// deliveries become applied too: an answer that said unchanged without
// naming the version is confirmed by the neuron saying it runs it.
func (tx *Tx) ResolveDeliveries(neuron string, rev int64, status, detail string, at time.Time) error {
	_, err := tx.tx.ExecContext(tx.ctx, `UPDATE deliveries SET status = ?, detail = ?, at = ?
		WHERE neuron_id = ? AND rev <= ? AND (status = ? OR status = ? AND ? = ?)`, status, detail, ms(at), neuron, rev,
		DeliveryPending, DeliveryUnchanged, status, DeliveryApplied)
	if err != nil {
		return fmt.Errorf("store: resolve deliveries of %s up to rev %d: %w", neuron, rev, err)
	}
	return nil
}

// Refused reports whether neuron refused the update that carried
// revision rev (its delivery is rejected).
func (tx *Tx) Refused(neuron string, rev int64) (bool, error) {
	var n int
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT count(*) FROM deliveries WHERE rev = ? AND neuron_id = ? AND status = ?`,
		rev, neuron, DeliveryRejected).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: refusal of rev %d by %s: %w", rev, neuron, err)
	}
	return n > 0, nil
}

// deliveriesBatch bounds the revisions of one query (SQLite bounds the
// parameters of a statement).
const deliveriesBatch = 500

// Deliveries returns the deliveries of the given revisions by revision,
// each list sorted by neuron id.
func (tx *Tx) Deliveries(revs ...int64) (map[int64][]Delivery, error) {
	out := map[int64][]Delivery{}
	for len(revs) > 0 {
		batch := revs[:min(len(revs), deliveriesBatch)]
		revs = revs[len(batch):]
		args := make([]any, len(batch))
		for i, r := range batch {
			args[i] = r
		}
		rows, err := tx.tx.QueryContext(tx.ctx, `SELECT rev, neuron_id, status, detail, at FROM deliveries
			WHERE rev IN (?`+strings.Repeat(", ?", len(batch)-1)+`) ORDER BY rev, neuron_id`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: deliveries: %w", err)
		}
		ds, err := collect(rows, func(r *sql.Rows) (Delivery, error) {
			var d Delivery
			var at int64
			err := r.Scan(&d.Rev, &d.NeuronID, &d.Status, &d.Detail, &at)
			d.At = msTime(at)
			return d, err
		})
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			out[d.Rev] = append(out[d.Rev], d)
		}
	}
	return out, nil
}
