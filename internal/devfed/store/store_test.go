package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func open(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// view runs fn in s.View, failing the test on an error.
func view(t *testing.T, s *Store, fn func(*Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// The schema is created once and recorded; opening again migrates
// nothing; a database from a newer binary is refused.
func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ctx := context.Background()
	var v int
	if err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil || v != len(migrations) {
		t.Fatalf("schema version %d (%v), want %d", v, err, len(migrations))
	}
	var mode string
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q (%v), want wal", mode, err)
	}
	var fk int
	if err := s.db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys %d (%v), want 1", fk, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite", filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Errorf("newer schema: %v", err)
	}
}

// Update rolls back everything when its function fails.
func TestUpdateRollsBack(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	boom := context.Canceled
	err := s.Update(ctx, func(tx *Tx) error {
		if _, err := tx.NewRev(KindConfig, TargetFleet, now); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update: %v", err)
	}
	view(t, s, func(tx *Tx) error {
		rev, err := tx.LastRev("")
		if rev != 0 {
			t.Errorf("rev %d after a rollback", rev)
		}
		return err
	})
}

// Deliveries of many revisions are read in batches.
func TestDeliveriesBatches(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	var revs []int64
	err := s.Update(ctx, func(tx *Tx) error {
		for range deliveriesBatch*2 + 3 {
			rev, err := tx.NewRev(KindConfig, TargetFleet, time.Now())
			if err != nil {
				return err
			}
			revs = append(revs, rev)
			if err := tx.PutDelivery(Delivery{Rev: rev, NeuronID: "n", Status: DeliveryPending, At: time.Now()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(tx *Tx) error {
		ds, err := tx.Deliveries(revs...)
		if len(ds) != len(revs) {
			t.Errorf("%d revisions with deliveries, want %d", len(ds), len(revs))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// migrated creates a database of schema version, runs seed in it, and
// returns it opened again, migrated to the latest version.
func migrated(t *testing.T, version int, seed string) *Store {
	t.Helper()
	dir := t.TempDir()
	all := migrations
	migrations = all[:version]
	s := open(t, dir)
	migrations = all
	if _, err := s.db.ExecContext(context.Background(), seed); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	t.Cleanup(func() { s.Close() })
	return s
}

// A database of schema version 1 is migrated with its neurons kept.
func TestMigrateKeepsNeurons(t *testing.T) {
	s := migrated(t, 1, `INSERT INTO neurons (id, name, type, instance, registration, registration_id, token,
		registered_at) VALUES ('n-1', 'n', 't', '10.0.0.1', '{}', 'reg-1', 'tok', 0)`)
	var found bool
	err := s.View(context.Background(), func(tx *Tx) error {
		var err error
		_, found, err = tx.Neuron("n-1")
		return err
	})
	if err != nil || !found {
		t.Errorf("neuron n-1 after the migration: found %v, %v", found, err)
	}
}

// A database of schema version 2 is migrated to lineages: a kept neuron's
// lineage is its registration's id, its commands served so far are taken
// as sent to it, and those never served, or of a neuron no longer kept,
// are sent to no one.
func TestMigrateLineage(t *testing.T) {
	s := migrated(t, 2, `INSERT INTO neurons (id, name, type, instance, registration, registration_id, token,
		registered_at) VALUES ('n-1', 'n', 't', '10.0.0.1', '{}', 'reg-1', 'tok', 0);
		INSERT INTO revisions (rev, kind, target, at) VALUES (1, 'command', 'n-1', 0);
		INSERT INTO commands (id, rev, neuron_id, type, data, status, served_version, created_at, updated_at) VALUES
			('served', 1, 'n-1', 'drain', '{}', 'delivered', '(none)', 0, 0),
			('waiting', 1, 'n-1', 'drain', '{}', 'pending', '', 0, 0),
			('orphan', 1, 'gone', 'drain', '{}', 'delivered', '(none)', 0, 0)`)
	want := map[string]string{"served": "reg-1", "waiting": "", "orphan": ""}
	view(t, s, func(tx *Tx) error {
		n, _, err := tx.Neuron("n-1")
		if n.Lineage != "reg-1" {
			t.Errorf("neuron lineage %q, want reg-1", n.Lineage)
		}
		for id, lineage := range want {
			c, _, cerr := tx.Command(id)
			if c.ServedLineage != lineage || cerr != nil {
				t.Errorf("command %s sent to %q (%v), want %q", id, c.ServedLineage, cerr, lineage)
			}
		}
		return err
	})
}

// A registration without a lineage is refused: the caller must say whether
// it is the same instance.
func TestRegisterNeedsLineage(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	err := s.Update(context.Background(), func(tx *Tx) error {
		return tx.Register(Neuron{ID: "n-1", Registration: []byte("{}"), RegistrationID: "reg-1", Token: "t"}, "::1", true)
	})
	if err == nil || !strings.Contains(err.Error(), "no lineage") {
		t.Errorf("Register without a lineage: %v", err)
	}
}
