package testutil

import (
	"os"
	"sync"
	"testing"
)

// privatePostgres is the server Postgres starts, one per test binary.
var privatePostgres struct {
	once sync.Once
	dsn  string
	skip string // why there is none, when that is no failure
	err  error
}

// Postgres returns the URL of a real PostgreSQL server for the test, such
// as postgres://postgres:secret@127.0.0.1:PORT/postgres?sslmode=disable.
//
// When EnvPostgresURL is set (CI sets it), that server is returned.
// Otherwise, when the PostgreSQL server binaries are installed
// (/usr/lib/postgresql/*/bin or PATH), the first call starts a private
// server on a free loopback port with a data directory under
// os.TempDir(), shared by every test of the test binary and killed when
// the binary exits (Linux only). It authenticates TCP clients by password
// (scram-sha-256), so a wrong password is refused as in production; use
// the postgres database and user. Without either, the test is skipped
// with a message saying how to get a server, or failed when EnvServices is
// "required".
//
// Every test shares the server: create objects with names of your own.
func Postgres(tb testing.TB) string {
	tb.Helper()
	if dsn := os.Getenv(EnvPostgresURL); dsn != "" {
		return dsn
	}
	pg := &privatePostgres
	pg.once.Do(func() { pg.dsn, pg.skip, pg.err = startPostgres() })
	if pg.skip != "" {
		Unavailable(tb, pg.skip)
	}
	if pg.err != nil {
		tb.Fatalf("testutil: start a private PostgreSQL server: %v", pg.err)
	}
	return pg.dsn
}
