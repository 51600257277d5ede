// Package store is the development federation's SQLite store
// (modernc.org/sqlite, file DATADIR/federation.db): neurons and their
// registrations, heartbeats, analytics reports and events, and the
// updates the federation delivers (configs, experiments, commands) with
// their per-neuron deliveries. Times are stored as UTC unix milliseconds.
//
// The schema is created and migrated at Open, versioned by the
// schema_version table. Every change the server makes is one transaction
// (Store.Update); reads see one snapshot (Store.View). It stores and reads
// only: HTTP, the wire contract and the checks of what is stored are the
// server's (internal/devfed), and it imports only the standard library and
// the SQLite driver.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// FileName is the database file inside the data directory.
const FileName = "federation.db"

// migrations are the schema, one step per version: migrations[i] brings a
// database from version i to i+1. Append only; never edit a released step.
var migrations = []string{
	`CREATE TABLE neurons (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		type TEXT NOT NULL,
		language TEXT NOT NULL DEFAULT '',
		version TEXT NOT NULL DEFAULT '',
		base_url TEXT NOT NULL DEFAULT '',
		instance TEXT NOT NULL,
		registration TEXT NOT NULL,
		registration_id TEXT NOT NULL,
		token TEXT NOT NULL,
		registered_at INTEGER NOT NULL,
		last_heartbeat INTEGER,
		status TEXT NOT NULL DEFAULT '',
		health_score REAL,
		cpu REAL, memory REAL, rps REAL, avg_response_time REAL,
		config_version TEXT NOT NULL DEFAULT '',
		build_version TEXT NOT NULL DEFAULT '',
		acked_rev INTEGER NOT NULL DEFAULT 0,
		served_experiment TEXT NOT NULL DEFAULT '',
		stop_plain TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE registrations (
		id TEXT PRIMARY KEY,
		neuron_id TEXT NOT NULL REFERENCES neurons(id) ON DELETE CASCADE,
		instance TEXT NOT NULL,
		remote TEXT NOT NULL,
		at INTEGER NOT NULL
	);
	CREATE INDEX registrations_neuron ON registrations(neuron_id, at);
	CREATE TABLE heartbeats (
		id INTEGER PRIMARY KEY,
		neuron_id TEXT NOT NULL REFERENCES neurons(id) ON DELETE CASCADE,
		received_at INTEGER NOT NULL,
		status TEXT NOT NULL,
		health_score REAL, cpu REAL, memory REAL, disk REAL, rps REAL, avg_response_time REAL,
		active_connections REAL, queue_size REAL, error_count REAL, success_rate REAL,
		config_version TEXT NOT NULL,
		build_version TEXT NOT NULL,
		body TEXT NOT NULL
	);
	CREATE INDEX heartbeats_neuron_at ON heartbeats(neuron_id, received_at);
	CREATE INDEX heartbeats_at ON heartbeats(received_at);
	CREATE TABLE reports (
		id INTEGER PRIMARY KEY,
		neuron_id TEXT NOT NULL REFERENCES neurons(id) ON DELETE CASCADE,
		key TEXT NOT NULL UNIQUE,
		received_at INTEGER NOT NULL,
		total_requests REAL, successful_requests REAL, failed_requests REAL,
		avg_response_time REAL, data_processed REAL,
		custom_metrics TEXT NOT NULL,
		breakdown TEXT NOT NULL,
		body TEXT NOT NULL
	);
	CREATE INDEX reports_neuron_at ON reports(neuron_id, received_at);
	CREATE INDEX reports_at ON reports(received_at);
	CREATE TABLE breakdown (
		report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
		neuron_id TEXT NOT NULL,
		received_at INTEGER NOT NULL,
		plugin TEXT NOT NULL, version TEXT NOT NULL, variant TEXT NOT NULL,
		total_requests REAL NOT NULL, failed_requests REAL NOT NULL, avg_response_time REAL NOT NULL,
		p50 REAL NOT NULL, p95 REAL NOT NULL, p99 REAL NOT NULL,
		custom_metrics TEXT NOT NULL
	);
	CREATE INDEX breakdown_variant ON breakdown(plugin, variant, received_at);
	CREATE TABLE events (
		neuron_id TEXT NOT NULL REFERENCES neurons(id) ON DELETE CASCADE,
		id TEXT NOT NULL,
		type TEXT NOT NULL,
		timestamp TEXT NOT NULL,
		received_at INTEGER NOT NULL,
		plugin TEXT NOT NULL, version TEXT NOT NULL,
		data TEXT NOT NULL,
		PRIMARY KEY (neuron_id, id)
	);
	CREATE INDEX events_neuron_at ON events(neuron_id, received_at);
	CREATE INDEX events_type_at ON events(type, received_at);
	CREATE INDEX events_at ON events(received_at);
	CREATE TABLE revisions (
		rev INTEGER PRIMARY KEY AUTOINCREMENT,
		kind TEXT NOT NULL,
		target TEXT NOT NULL,
		at INTEGER NOT NULL
	);
	CREATE TABLE configs (
		rev INTEGER PRIMARY KEY REFERENCES revisions(rev),
		target TEXT NOT NULL,
		config TEXT NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE INDEX configs_target ON configs(target, rev);
	CREATE TABLE experiments (
		id TEXT PRIMARY KEY,
		target TEXT NOT NULL,
		spec TEXT NOT NULL,
		status TEXT NOT NULL,
		start_rev INTEGER NOT NULL REFERENCES revisions(rev),
		stop_rev INTEGER REFERENCES revisions(rev),
		promote TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		stopped_at INTEGER
	);
	CREATE TABLE commands (
		id TEXT PRIMARY KEY,
		rev INTEGER NOT NULL REFERENCES revisions(rev),
		neuron_id TEXT NOT NULL,
		type TEXT NOT NULL,
		data TEXT NOT NULL,
		status TEXT NOT NULL,
		outcome TEXT,
		served_version TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	);
	CREATE INDEX commands_neuron ON commands(neuron_id, rev);
	CREATE TABLE deliveries (
		rev INTEGER NOT NULL REFERENCES revisions(rev),
		neuron_id TEXT NOT NULL,
		status TEXT NOT NULL,
		detail TEXT NOT NULL,
		at INTEGER NOT NULL,
		PRIMARY KEY (rev, neuron_id)
	);
	CREATE INDEX deliveries_neuron ON deliveries(neuron_id, status, rev);`,
	// rejected_rev: the highest update revision the neuron refused. Unused
	// since refusals are the rejected deliveries, per revision (a refused
	// revision is left out of what the neuron is served); kept, as every
	// released step is.
	`ALTER TABLE neurons ADD COLUMN rejected_rev INTEGER NOT NULL DEFAULT 0;`,
	// lineage: the instance holding the id, kept across its token-proven
	// registrations, new on the id's first and on an offline takeover;
	// served_lineage: the lineage a command was sent to, whose outcome
	// alone resolves it. A kept neuron gets a lineage of its own; its
	// commands served so far are taken as sent to it (the holder then), and
	// those of a neuron no longer kept stay unbound, as before.
	`ALTER TABLE neurons ADD COLUMN lineage TEXT NOT NULL DEFAULT '';
	UPDATE neurons SET lineage = registration_id;
	ALTER TABLE commands ADD COLUMN served_lineage TEXT NOT NULL DEFAULT '';
	UPDATE commands SET served_lineage = coalesce((SELECT lineage FROM neurons WHERE neurons.id = commands.neuron_id), '')
		WHERE served_version != '';`,
}

// Store is the federation's database. Its methods are safe for concurrent
// use.
type Store struct {
	db *sql.DB
}

// Open opens (creating if needed) dir/federation.db, in WAL mode with a
// busy timeout and foreign keys on, and migrates its schema to the latest
// version.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data directory: %w", err)
	}
	file := filepath.Join(dir, FileName)
	dsn := "file:" + file + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", file, err)
	}
	// One connection: every transaction is serialized, which a development
	// federation's load allows and which keeps SQLite free of lock errors.
	// See docs/dev-federation.md, "Storage".
	db.SetMaxOpenConns(1)
	s := &Store{db: db}
	if err := s.migrate(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: %s: %w", file, err)
	}
	return s, nil
}

// migrate brings the schema to len(migrations), one transaction per step.
func (s *Store) migrate() error {
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := s.db.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return fmt.Errorf("init schema_version: %w", err)
		}
	case err != nil:
		return fmt.Errorf("read schema_version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this binary knows (%d): use a newer neuron or another data directory", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		err := s.Update(ctx, func(tx *Tx) error {
			if _, err := tx.tx.ExecContext(ctx, migrations[v]); err != nil {
				return err
			}
			_, err := tx.tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, v+1)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
		}
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Tx is one transaction; its methods read and write the store.
type Tx struct {
	ctx context.Context
	tx  *sql.Tx
}

// Update runs fn in a write transaction, committed when fn returns nil and
// rolled back otherwise.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(&Tx{ctx: ctx, tx: tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// View runs fn in a read-only transaction: one consistent snapshot.
func (s *Store) View(ctx context.Context, fn func(*Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(&Tx{ctx: ctx, tx: tx})
}

// ms converts t to unix milliseconds; msTime converts back, in UTC.
func ms(t time.Time) int64 { return t.UnixMilli() }

func msTime(v int64) time.Time { return time.UnixMilli(v).UTC() }
