package testutil

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// redisPing sends PING to the Redis server at addr and checks the answer.
func redisPing(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

func TestRedisAnswersPing(t *testing.T) {
	addr := Redis(t)
	if err := redisPing(addr); err != nil {
		t.Fatalf("Redis(t) = %s: %v", addr, err)
	}
}

func TestRedisServerStopStart(t *testing.T) {
	s := StartRedis(t)
	if err := redisPing(s.Addr); err != nil {
		t.Fatalf("fresh server %s: %v", s.Addr, err)
	}
	s.Stop()
	if err := redisPing(s.Addr); err == nil {
		t.Fatalf("server %s still answers after Stop", s.Addr)
	}
	s.Start()
	if err := redisPing(s.Addr); err != nil {
		t.Fatalf("server %s after Start: %v", s.Addr, err)
	}
}

func TestPostgres(t *testing.T) {
	dsn := Postgres(t)
	ctx := t.Context()
	conn, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to Postgres(t): %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		t.Fatalf("SELECT 1: %v", err)
	}
	if Postgres(t) != dsn {
		t.Fatal("a second call started another server")
	}
}

func TestPostgresRefusesWrongPassword(t *testing.T) {
	cfg, err := pgconn.ParseConfig(Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Password == "" {
		Unavailable(t, "the PostgreSQL server's URL has no password, so it cannot be asked to refuse a wrong one: point "+EnvPostgresURL+" at a server that authenticates by password")
	}
	cfg.Password += "-wrong"
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err == nil {
		conn.Close(ctx)
		t.Fatal("connected with a wrong password")
	}
	if !strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("wrong password: %v, want the server's password authentication error", err)
	}
}

// recordTB records what Unavailable asks of the test instead of ending it.
type recordTB struct {
	testing.TB
	skipped, failed, errored string
}

func (r *recordTB) Skip(args ...any)                  { r.skipped = fmt.Sprint(args...) }
func (r *recordTB) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }
func (r *recordTB) Errorf(format string, args ...any) { r.errored = fmt.Sprintf(format, args...) }
func (r *recordTB) Logf(string, ...any)               {}

func TestUnavailable(t *testing.T) {
	tests := []struct {
		name, services string
		wantSkip       bool
	}{
		{name: "unset skips", services: "", wantSkip: true},
		{name: "other value skips", services: "optional", wantSkip: true},
		{name: "required fails", services: "required", wantSkip: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvServices, tc.services)
			r := &recordTB{TB: t}
			Unavailable(r, "no server here")
			got := r.failed
			if tc.wantSkip {
				got = r.skipped
			}
			if !strings.Contains(got, "no server here") || (r.skipped != "") == (r.failed != "") {
				t.Fatalf("skipped %q, failed %q; want only a %s with the reason", r.skipped, r.failed, map[bool]string{true: "skip", false: "failure"}[tc.wantSkip])
			}
		})
	}
}

func TestFreeAddr(t *testing.T) {
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("freeAddr() = %s, which cannot be listened on: %v", addr, err)
	}
	l.Close()
}
