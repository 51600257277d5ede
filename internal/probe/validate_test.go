package probe

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestDependencyValidate(t *testing.T) {
	tests := []struct {
		name string
		dep  Dependency
	}{
		{name: "tcp", dep: Dependency{Name: "db", Kind: KindTCP, Target: "db.internal:5432"}},
		{name: "tcp ipv6", dep: Dependency{Name: "db", Kind: KindTCP, Target: "[::1]:5432"}},
		{name: "http", dep: Dependency{Name: "search", Kind: KindHTTP, Target: "http://search:9200/_cluster/health"}},
		{name: "https", dep: Dependency{Name: "s3", Kind: KindHTTP, Target: "https://s3.amazonaws.com/"}},
		{name: "postgres url", dep: Dependency{Name: "postgresql", Kind: KindPostgres, Target: "postgres://app:secret@db:5432/app?sslmode=disable"}},
		{name: "postgresql url", dep: Dependency{Name: "pg", Kind: KindPostgres, Target: "postgresql://db/app"}},
		{name: "postgres dsn", dep: Dependency{Name: "pg", Kind: KindPostgres, Target: "host=db user=app dbname=app sslmode=disable"}},
		{name: "redis url", dep: Dependency{Name: "redis", Kind: KindRedis, Target: "redis://:secret@cache:6379/2"}},
		{name: "rediss url", dep: Dependency{Name: "redis", Kind: KindRedis, Target: "rediss://cache:6380"}},
		{name: "redis host:port", dep: Dependency{Name: "redis", Kind: KindRedis, Target: "cache:6379"}},
		{name: "name charset", dep: Dependency{Name: "a-b_c.d9", Kind: KindTCP, Target: "h:1"}},
		{name: "durations", dep: Dependency{Name: "x", Kind: KindTCP, Target: "h:1", Interval: time.Second, Timeout: time.Second, Optional: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.dep.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestDependencyValidate_Errors(t *testing.T) {
	tests := []struct {
		name        string
		dep         Dependency
		expectedErr []string // each must appear in the error
	}{
		{name: "empty name", dep: Dependency{Kind: KindTCP, Target: "h:1"},
			expectedErr: []string{`dependency ""`, "name must be non-empty"}},
		{name: "name with space", dep: Dependency{Name: "my db", Kind: KindTCP, Target: "h:1"},
			expectedErr: []string{`dependency "my db"`, "letters, digits"}},
		{name: "unknown kind", dep: Dependency{Name: "mq", Kind: "amqp", Target: "h:5672"},
			expectedErr: []string{`dependency "mq"`, `unknown kind "amqp"`, "tcp, http, postgres or redis"}},
		{name: "empty kind", dep: Dependency{Name: "mq", Target: "h:5672"},
			expectedErr: []string{`unknown kind ""`}},
		{name: "tcp without port", dep: Dependency{Name: "db", Kind: KindTCP, Target: "db.internal"},
			expectedErr: []string{`dependency "db"`, "want host:port such as db.internal:5432"}},
		{name: "tcp empty host", dep: Dependency{Name: "db", Kind: KindTCP, Target: ":5432"},
			expectedErr: []string{"the host is empty"}},
		{name: "tcp port out of range", dep: Dependency{Name: "db", Kind: KindTCP, Target: "db:70000"},
			expectedErr: []string{`port "70000" is not a number from 1 to 65535`}},
		{name: "tcp named port", dep: Dependency{Name: "db", Kind: KindTCP, Target: "db:postgres"},
			expectedErr: []string{`port "postgres"`}},
		{name: "http without scheme", dep: Dependency{Name: "api", Kind: KindHTTP, Target: "api.internal/health"},
			expectedErr: []string{`dependency "api"`, "want an http:// or https:// URL"}},
		{name: "http other scheme", dep: Dependency{Name: "api", Kind: KindHTTP, Target: "ftp://api/"},
			expectedErr: []string{"want an http:// or https:// URL"}},
		{name: "http bad url", dep: Dependency{Name: "api", Kind: KindHTTP, Target: "http://api:port/"},
			expectedErr: []string{"want an http:// or https:// URL", "invalid port"}},
		{name: "postgres empty", dep: Dependency{Name: "pg", Kind: KindPostgres},
			expectedErr: []string{`dependency "pg"`, "want a URL such as postgres://"}},
		{name: "postgres host:port", dep: Dependency{Name: "pg", Kind: KindPostgres, Target: "db:5432"},
			expectedErr: []string{"want a URL such as postgres://", "or a DSN"}},
		{name: "postgres bad port", dep: Dependency{Name: "pg", Kind: KindPostgres, Target: "postgres://db:x/app"},
			expectedErr: []string{"want a URL such as postgres://"}},
		{name: "redis bad scheme", dep: Dependency{Name: "cache", Kind: KindRedis, Target: "http://cache:6379"},
			expectedErr: []string{`dependency "cache"`, "want redis://[:password@]host:port[/db]", `URL scheme "http" is not redis or rediss`}},
		{name: "redis bad db", dep: Dependency{Name: "cache", Kind: KindRedis, Target: "redis://cache:6379/x"},
			expectedErr: []string{"want redis://"}},
		{name: "redis without port", dep: Dependency{Name: "cache", Kind: KindRedis, Target: "cache"},
			expectedErr: []string{"want redis://", "host:port"}},
		{name: "negative interval", dep: Dependency{Name: "db", Kind: KindTCP, Target: "h:1", Interval: -time.Second},
			expectedErr: []string{`dependency "db"`, "must not be negative"}},
		{name: "negative timeout", dep: Dependency{Name: "db", Kind: KindTCP, Target: "h:1", Timeout: -1},
			expectedErr: []string{"must not be negative"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.dep.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, want := range tc.expectedErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

// Targets with passwords must not leak them into errors, logs or results.
func TestPasswordsStayHidden(t *testing.T) {
	tests := []struct {
		name string
		dep  Dependency
	}{
		{name: "redis url bad db", dep: Dependency{Name: "r", Kind: KindRedis, Target: "redis://:hunter2@cache:6379/x"}},
		{name: "redis url with user", dep: Dependency{Name: "r", Kind: KindRedis, Target: "redis://u:hunter2@cache:6379/x"}},
		{name: "redis broken url", dep: Dependency{Name: "r", Kind: KindRedis, Target: "redis://:hunter2@cache:port"}},
		{name: "postgres bad port", dep: Dependency{Name: "p", Kind: KindPostgres, Target: "postgres://app:hunter2@db:x/app"}},
		{name: "postgres dsn", dep: Dependency{Name: "p", Kind: KindPostgres, Target: "host=db password=hunter2 port=x"}},
		{name: "http bad port", dep: Dependency{Name: "h", Kind: KindHTTP, Target: "http://u:hunter2@api:x/"}},
		{name: "tcp with userinfo", dep: Dependency{Name: "t", Kind: KindTCP, Target: "u:hunter2@h:1"}},
		{name: "postgres dsn spaced", dep: Dependency{Name: "p", Kind: KindPostgres, Target: "host=db password = hunter2 port=x"}},
		{name: "postgres repeated", dep: Dependency{Name: "p", Kind: KindPostgres, Target: "host=db password=hunter2 connect_timeout=hunter2"}},
		{name: "redis db is the password", dep: Dependency{Name: "r", Kind: KindRedis, Target: "redis://u:hunter2@cache:6379/hunter2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.dep.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("Validate() = %q: it shows the password", err)
			}
			if r := Check(context.Background(), tc.dep); r.Status != StatusUnhealthy || strings.Contains(r.Error, "hunter2") {
				t.Fatalf("Check() = %+v: want unhealthy without the password", r)
			}
		})
	}
}

func TestStartReportsEveryProblem(t *testing.T) {
	deps := []Dependency{
		{Name: "db", Kind: KindTCP, Target: "db:5432"},
		{Name: "db", Kind: KindRedis, Target: "cache:6379"},
		{Name: "", Kind: KindTCP, Target: "h:1"},
		{Name: "mq", Kind: "amqp", Target: "mq:5672"},
		{Name: "api", Kind: KindHTTP, Target: "api/health"},
	}
	p, err := Start(context.Background(), deps, nil)
	if err == nil {
		p.Stop()
		t.Fatal("Start() accepted invalid dependencies")
	}
	for _, want := range []string{
		`dependency "db": declared more than once`,
		`dependency "": name must be non-empty`,
		`dependency "mq": unknown kind "amqp"`,
		`dependency "api": http target "api/health"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start() = %q\nwant it to contain %q", err, want)
		}
	}
}
