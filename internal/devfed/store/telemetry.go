package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Heartbeat is one heartbeat as stored: when the federation received it,
// the numbers it carried (nil when absent) and its body.
type Heartbeat struct {
	NeuronID string
	At       time.Time
	Status   string

	HealthScore, CPU, Memory, Disk, RPS, AvgResponseTime,
	ActiveConnections, QueueSize, ErrorCount, SuccessRate *float64

	ConfigVersion, BuildVersion string
	Body                        json.RawMessage
}

// AddHeartbeat stores h and makes it the neuron's last heartbeat.
func (tx *Tx) AddHeartbeat(h Heartbeat) error {
	_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO heartbeats (neuron_id, received_at, status, health_score, cpu,
		memory, disk, rps, avg_response_time, active_connections, queue_size, error_count, success_rate,
		config_version, build_version, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		h.NeuronID, ms(h.At), h.Status, h.HealthScore, h.CPU, h.Memory, h.Disk, h.RPS, h.AvgResponseTime,
		h.ActiveConnections, h.QueueSize, h.ErrorCount, h.SuccessRate, h.ConfigVersion, h.BuildVersion, string(h.Body))
	if err != nil {
		return fmt.Errorf("store: add heartbeat of %s: %w", h.NeuronID, err)
	}
	_, err = tx.tx.ExecContext(tx.ctx, `UPDATE neurons SET last_heartbeat = ?, status = ?, health_score = ?, cpu = ?,
		memory = ?, rps = ?, avg_response_time = ?, config_version = ?, build_version = ? WHERE id = ?`,
		ms(h.At), h.Status, h.HealthScore, h.CPU, h.Memory, h.RPS, h.AvgResponseTime, h.ConfigVersion,
		h.BuildVersion, h.NeuronID)
	if err != nil {
		return fmt.Errorf("store: add heartbeat of %s: %w", h.NeuronID, err)
	}
	return nil
}

// Heartbeats returns the neuron's last limit heartbeats received at or
// after since, oldest first.
func (tx *Tx) Heartbeats(id string, since time.Time, limit int) ([]Heartbeat, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT neuron_id, received_at, status, health_score, cpu, memory, disk, rps,
		avg_response_time, active_connections, queue_size, error_count, success_rate, config_version, build_version,
		body FROM heartbeats WHERE id IN (SELECT id FROM heartbeats WHERE neuron_id = ? AND received_at >= ?
		ORDER BY received_at DESC, id DESC LIMIT ?) ORDER BY received_at, id`, id, ms(since), limit)
	if err != nil {
		return nil, fmt.Errorf("store: heartbeats of %s: %w", id, err)
	}
	return collect(rows, func(r *sql.Rows) (Heartbeat, error) {
		var h Heartbeat
		var at int64
		var body string
		err := r.Scan(&h.NeuronID, &at, &h.Status, &h.HealthScore, &h.CPU, &h.Memory, &h.Disk, &h.RPS,
			&h.AvgResponseTime, &h.ActiveConnections, &h.QueueSize, &h.ErrorCount, &h.SuccessRate,
			&h.ConfigVersion, &h.BuildVersion, &body)
		h.At, h.Body = msTime(at), json.RawMessage(body)
		return h, err
	})
}

// Report is one analytics report: the reference metrics, our breakdown
// rows (Breakdown as sent, Rows decoded) and the body.
type Report struct {
	NeuronID string
	// Key identifies the report's bytes: the same report sent twice is
	// stored once.
	Key string
	At  time.Time

	TotalRequests, SuccessfulRequests, FailedRequests, AvgResponseTime, DataProcessed float64

	CustomMetrics json.RawMessage // an object
	Breakdown     json.RawMessage // an array, as sent
	Rows          []BreakdownRow
	Body          json.RawMessage
}

// BreakdownRow is one row of a report's breakdown: the metrics of one
// processor version, and experiment variant when Variant is set.
type BreakdownRow struct {
	NeuronID string
	At       time.Time

	Plugin, Version, Variant                       string
	TotalRequests, FailedRequests, AvgResponseTime float64
	P50, P95, P99                                  float64
	CustomMetrics                                  map[string]float64
}

// AddReport stores r unless a report with its Key is stored already
// (then dup is true and nothing changes).
func (tx *Tx) AddReport(r Report) (dup bool, err error) {
	res, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO reports (neuron_id, key, received_at, total_requests,
		successful_requests, failed_requests, avg_response_time, data_processed, custom_metrics, breakdown, body)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
		r.NeuronID, r.Key, ms(r.At), r.TotalRequests, r.SuccessfulRequests, r.FailedRequests, r.AvgResponseTime,
		r.DataProcessed, string(r.CustomMetrics), string(r.Breakdown), string(r.Body))
	if err != nil {
		return false, fmt.Errorf("store: add report of %s: %w", r.NeuronID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return true, nil
	}
	id, err := res.LastInsertId()
	if err != nil {
		return false, fmt.Errorf("store: add report of %s: %w", r.NeuronID, err)
	}
	for _, b := range r.Rows {
		custom, _ := json.Marshal(b.CustomMetrics) // map[string]float64 of finite numbers: cannot fail
		_, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO breakdown (report_id, neuron_id, received_at, plugin, version,
			variant, total_requests, failed_requests, avg_response_time, p50, p95, p99, custom_metrics)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, r.NeuronID, ms(r.At), b.Plugin, b.Version, b.Variant,
			b.TotalRequests, b.FailedRequests, b.AvgResponseTime, b.P50, b.P95, b.P99, string(custom))
		if err != nil {
			return false, fmt.Errorf("store: add breakdown of %s: %w", r.NeuronID, err)
		}
	}
	return false, nil
}

// Reports returns the neuron's last limit reports received at or after
// since, oldest first (without Rows).
func (tx *Tx) Reports(id string, since time.Time, limit int) ([]Report, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT neuron_id, key, received_at, total_requests, successful_requests,
		failed_requests, avg_response_time, data_processed, custom_metrics, breakdown, body FROM reports
		WHERE id IN (SELECT id FROM reports WHERE neuron_id = ? AND received_at >= ?
		ORDER BY received_at DESC, id DESC LIMIT ?) ORDER BY received_at, id`, id, ms(since), limit)
	if err != nil {
		return nil, fmt.Errorf("store: reports of %s: %w", id, err)
	}
	return collect(rows, func(r *sql.Rows) (Report, error) {
		var rep Report
		var at int64
		var custom, breakdown, body string
		err := r.Scan(&rep.NeuronID, &rep.Key, &at, &rep.TotalRequests, &rep.SuccessfulRequests,
			&rep.FailedRequests, &rep.AvgResponseTime, &rep.DataProcessed, &custom, &breakdown, &body)
		rep.At = msTime(at)
		rep.CustomMetrics, rep.Breakdown, rep.Body = json.RawMessage(custom), json.RawMessage(breakdown), json.RawMessage(body)
		return rep, err
	})
}

// VariantRows returns the breakdown rows with a variant of plugin (of any
// plugin when "") received in [from, to), oldest first.
func (tx *Tx) VariantRows(plugin string, from, to time.Time) ([]BreakdownRow, error) {
	rows, err := tx.tx.QueryContext(tx.ctx, `SELECT neuron_id, received_at, plugin, version, variant, total_requests,
		failed_requests, avg_response_time, p50, p95, p99, custom_metrics FROM breakdown
		WHERE ? IN ('', plugin) AND variant != '' AND received_at >= ? AND received_at < ? ORDER BY received_at, rowid`,
		plugin, ms(from), ms(to))
	if err != nil {
		return nil, fmt.Errorf("store: breakdown of %s: %w", plugin, err)
	}
	return collect(rows, func(r *sql.Rows) (BreakdownRow, error) {
		var b BreakdownRow
		var at int64
		var custom string
		err := r.Scan(&b.NeuronID, &at, &b.Plugin, &b.Version, &b.Variant, &b.TotalRequests, &b.FailedRequests,
			&b.AvgResponseTime, &b.P50, &b.P95, &b.P99, &custom)
		b.At = msTime(at)
		if err == nil {
			err = json.Unmarshal([]byte(custom), &b.CustomMetrics)
		}
		return b, err
	})
}

// Event is one analytics event of a neuron. ID is the event's id, or a
// digest of its content when it had none.
type Event struct {
	NeuronID, ID, Type string
	// Timestamp is the event's own, as sent; At is when the federation
	// received it.
	Timestamp       string
	At              time.Time
	Plugin, Version string
	Data            json.RawMessage
}

// AddEvent stores e unless the neuron already reported an event with its
// ID (then added is false).
func (tx *Tx) AddEvent(e Event) (added bool, err error) {
	data := string(e.Data)
	if data == "" {
		data = "null"
	}
	res, err := tx.tx.ExecContext(tx.ctx, `INSERT INTO events (neuron_id, id, type, timestamp, received_at, plugin,
		version, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (neuron_id, id) DO NOTHING`,
		e.NeuronID, e.ID, e.Type, e.Timestamp, ms(e.At), e.Plugin, e.Version, data)
	if err != nil {
		return false, fmt.Errorf("store: add event of %s: %w", e.NeuronID, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// EventFilter selects events: of one neuron and/or one type ("" for any),
// received at or after Since; Experiment keeps those whose data.experiment
// is it.
type EventFilter struct {
	NeuronID, Type, Experiment string
	Since                      time.Time
	Limit                      int
}

// Events returns the events f selects, newest first.
func (tx *Tx) Events(f EventFilter) ([]Event, error) {
	q := `SELECT neuron_id, id, type, timestamp, received_at, plugin, version, data FROM events WHERE received_at >= ?`
	args := []any{ms(f.Since)}
	for _, c := range []struct{ cond, val string }{
		{" AND neuron_id = ?", f.NeuronID},
		{" AND type = ?", f.Type},
		{" AND json_extract(data, '$.experiment') = ?", f.Experiment},
	} {
		if c.val != "" {
			q += c.cond
			args = append(args, c.val)
		}
	}
	q += ` ORDER BY received_at DESC, rowid DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := tx.tx.QueryContext(tx.ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	return collect(rows, func(r *sql.Rows) (Event, error) {
		var e Event
		var at int64
		var data string
		err := r.Scan(&e.NeuronID, &e.ID, &e.Type, &e.Timestamp, &at, &e.Plugin, &e.Version, &data)
		e.At, e.Data = msTime(at), json.RawMessage(data)
		return e, err
	})
}

// Pruned counts what Prune deleted.
type Pruned struct{ Heartbeats, Reports, Events, Registrations int64 }

// Prune deletes the heartbeats, reports (with their breakdown rows) and
// events received before cutoff, and the registrations before it that are
// no longer any neuron's current one.
func (tx *Tx) Prune(cutoff time.Time) (Pruned, error) {
	var p Pruned
	for _, d := range []struct {
		n   *int64
		sql string
	}{
		{&p.Heartbeats, `DELETE FROM heartbeats WHERE received_at < ?`},
		{&p.Reports, `DELETE FROM reports WHERE received_at < ?`},
		{&p.Events, `DELETE FROM events WHERE received_at < ?`},
		{&p.Registrations, `DELETE FROM registrations WHERE at < ? AND id NOT IN (SELECT registration_id FROM neurons)`},
	} {
		res, err := tx.tx.ExecContext(tx.ctx, d.sql, ms(cutoff))
		if err != nil {
			return p, fmt.Errorf("store: prune: %w", err)
		}
		*d.n, _ = res.RowsAffected()
	}
	return p, nil
}

// one is the result of a single-row lookup of what: found is false when
// there is no row.
func one[T any](v T, err error, what string) (T, bool, error) {
	var zero T
	if errors.Is(err, sql.ErrNoRows) {
		return zero, false, nil
	}
	if err != nil {
		return zero, false, fmt.Errorf("store: read %s: %w", what, err)
	}
	return v, true, nil
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(*sql.Rows) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("store: scan: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: scan: %w", err)
	}
	return out, nil
}
