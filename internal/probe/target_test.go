package probe

import (
	"slices"
	"strings"
	"testing"
)

func TestKinds(t *testing.T) {
	want := []Kind{KindTCP, KindHTTP, KindPostgres, KindRedis}
	if got := Kinds(); !slices.Equal(got, want) {
		t.Fatalf("Kinds() = %v, want %v", got, want)
	}
	for _, k := range Kinds() {
		if _, ok := probes[k]; !ok {
			t.Errorf("kind %q has no probe", k)
		}
		if _, ok := targetForms[k]; !ok {
			t.Errorf("kind %q has no target check", k)
		}
	}
}

// CheckTarget's errors are whole: the form wanted, then the reason, with
// neither the dependency's name nor the target.
func TestCheckTarget(t *testing.T) {
	const (
		wantTCP   = "want host:port such as db.internal:5432"
		wantHTTP  = "want an http:// or https:// URL such as http://search.internal:9200/_cluster/health"
		wantPG    = `want a URL such as postgres://user:password@db.internal:5432/app?sslmode=disable or a DSN such as "host=db.internal user=app dbname=app"`
		wantRedis = "want redis://[:password@]host:port[/db] (rediss:// for TLS) or host:port, such as redis://cache.internal:6379/0"
	)
	tests := []struct {
		name        string
		kind        Kind
		target      string
		expectedErr string // "" for a valid target
	}{
		{name: "tcp", kind: KindTCP, target: "db.internal:5432"},
		{name: "http", kind: KindHTTP, target: "http://search:9200/_cluster/health"},
		{name: "https upper case", kind: KindHTTP, target: "HTTPS://x.example"},
		{name: "postgres url", kind: KindPostgres, target: "postgres://app:secret@db:5432/app?sslmode=disable"},
		{name: "postgres dsn", kind: KindPostgres, target: "host=db port=5432 dbname=app"},
		{name: "postgres dsn with a url value", kind: KindPostgres, target: "host=db application_name=a://b"},
		{name: "redis url", kind: KindRedis, target: "rediss://:secret@cache:6380/1"},
		{name: "redis host:port", kind: KindRedis, target: "[::1]:6379"},

		{name: "unknown kind", kind: "amqp", target: "h:5672",
			expectedErr: `unknown kind "amqp": use tcp, http, postgres or redis`},
		{name: "tcp without port", kind: KindTCP, target: "localhost",
			expectedErr: wantTCP + ": missing port in address"},
		{name: "tcp with userinfo", kind: KindTCP, target: "u:p@h:1",
			expectedErr: wantTCP + ": too many colons in address"},
		{name: "tcp port zero", kind: KindTCP, target: "h:0",
			expectedErr: wantTCP + `: port "0" is not a number from 1 to 65535`},
		{name: "tcp signed port", kind: KindTCP, target: "h:+80",
			expectedErr: wantTCP + `: port "+80" is not a number from 1 to 65535`},
		{name: "tcp empty host", kind: KindTCP, target: ":80",
			expectedErr: wantTCP + ": the host is empty"},
		{name: "http no scheme", kind: KindHTTP, target: "localhost:80",
			expectedErr: wantHTTP + `: URL scheme "localhost" is not http or https`},
		{name: "http no host", kind: KindHTTP, target: "http://:80/",
			expectedErr: wantHTTP + ": the URL has no host"},
		{name: "postgres empty", kind: KindPostgres, target: " ",
			expectedErr: wantPG + ": the target is empty"},
		{name: "postgres other scheme", kind: KindPostgres, target: "mysql://u:p@h/db",
			expectedErr: wantPG + `: URL scheme "mysql" is not postgres or postgresql`},
		{name: "postgres scheme case", kind: KindPostgres, target: "POSTGRES://h/db",
			expectedErr: wantPG + `: URL scheme "POSTGRES" is not postgres or postgresql`},
		{name: "postgres not a dsn", kind: KindPostgres, target: "not a dsn",
			expectedErr: wantPG + ": failed to parse as keyword/value (invalid keyword/value)"},
		{name: "postgres bad port", kind: KindPostgres, target: "postgres://u:p@db:x/app",
			expectedErr: wantPG + ": invalid port"},
		{name: "redis no host", kind: KindRedis, target: "redis:///0",
			expectedErr: wantRedis + ": the URL has no host"},
		{name: "redis unix socket", kind: KindRedis, target: "unix:///tmp/redis.sock",
			expectedErr: wantRedis + `: URL scheme "unix" is not redis or rediss`},
		{name: "redis bad db", kind: KindRedis, target: "redis://cache:6379/x",
			expectedErr: wantRedis + `: redis: invalid database number: "x"`},
		{name: "redis without port", kind: KindRedis, target: "cache",
			expectedErr: wantRedis + ": missing port in address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTarget(tc.kind, tc.target)
			switch {
			case tc.expectedErr == "" && err != nil:
				t.Fatalf("CheckTarget(%s, %q) = %v, want nil", tc.kind, tc.target, err)
			case tc.expectedErr != "" && (err == nil || err.Error() != tc.expectedErr):
				t.Fatalf("CheckTarget(%s, %q) = %v\nwant %s", tc.kind, tc.target, err, tc.expectedErr)
			}
		})
	}
}

// A parser's reason that would show the password is withheld, but a short
// password that only occurs within a word does not cost the reason.
func TestCheckTarget_WithholdsPasswords(t *testing.T) {
	tests := []struct {
		name, target, secret, reason string
	}{
		{name: "dsn spaces around =", target: "host=db password = hunter2 port=x", secret: "hunter2", reason: "invalid port"},
		{name: "dsn quoted", target: "host=db password='hunter 2' port=x", secret: "hunter 2", reason: "invalid port"},
		{name: "dsn password repeated", target: "host=db password=hunter2 connect_timeout=hunter2", secret: "hunter2",
			reason: "the reason is withheld because it would show the password"},
		{name: "url query password", target: "postgres://db/app?password=hunter2&connect_timeout=hunter2", secret: "hunter2",
			reason: "the reason is withheld because it would show the password"},
		{name: "url password repeated", target: "postgres://u:hunter2@db:5432/app?connect_timeout=hunter2", secret: "hunter2",
			reason: "the reason is withheld because it would show the password"},
		{name: "short password", target: "postgres://u:p@[::1", secret: ":p@",
			reason: "failed to parse as URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTarget(KindPostgres, tc.target)
			if err == nil {
				t.Fatal("CheckTarget() = nil, want an error")
			}
			if strings.Contains(err.Error(), tc.secret) {
				t.Fatalf("CheckTarget() = %q: it shows the password", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("CheckTarget() = %q, want the reason %q", err, tc.reason)
			}
			if r := redact(tc.target); strings.Contains(r, tc.secret) {
				t.Errorf("redact() = %q: it shows the password", r)
			}
		})
	}
}
