package probe

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/empirefederation/neuron/internal/testutil"
)

type checkCase struct {
	name       string
	dep        func(t *testing.T) Dependency
	wantStatus string
	wantErr    []string // each must appear in Result.Error
}

func runChecks(t *testing.T, tests []checkCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := tc.dep(t)
			before := time.Now()
			r := Check(t.Context(), d)
			if r.Status != tc.wantStatus {
				t.Fatalf("Check(%s %s) = %s (%q), want %s", d.Kind, d.Target, r.Status, r.Error, tc.wantStatus)
			}
			if (r.Error == "") != (tc.wantStatus == StatusHealthy) {
				t.Errorf("Check() error = %q with status %s", r.Error, r.Status)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(r.Error, want) {
					t.Errorf("Check() error = %q, want it to contain %q", r.Error, want)
				}
			}
			if r.Checked.Before(before) || r.Latency <= 0 || r.Optional != d.Optional {
				t.Errorf("Check() = %+v: want Checked after the call began, a latency and Optional %v", r, d.Optional)
			}
		})
	}
}

func TestCheckTCP(t *testing.T) {
	runChecks(t, []checkCase{
		{name: "listener", wantStatus: StatusHealthy, dep: func(t *testing.T) Dependency {
			return Dependency{Name: "svc", Kind: KindTCP, Target: listen(t, silent), Optional: true}
		}},
		{name: "closed port", wantStatus: StatusUnhealthy, wantErr: []string{"connection refused"}, dep: func(t *testing.T) Dependency {
			return Dependency{Name: "svc", Kind: KindTCP, Target: testutil.ClosedAddr(t)}
		}},
	})
}

func TestCheckHTTP(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			fmt.Fprintln(w, "ok")
		case "/moved": // a healthy answer, even though following it would fail
			http.Redirect(w, r, "http://"+r.Host+"/broken", http.StatusFound)
		case "/broken":
			http.Error(w, "database down", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(server.Close)
	at := func(path string) func(*testing.T) Dependency {
		return func(*testing.T) Dependency { return Dependency{Name: "api", Kind: KindHTTP, Target: server.URL + path} }
	}
	runChecks(t, []checkCase{
		{name: "200", dep: at("/ok"), wantStatus: StatusHealthy},
		{name: "302 not followed", dep: at("/moved"), wantStatus: StatusHealthy},
		{name: "500", dep: at("/broken"), wantStatus: StatusUnhealthy, wantErr: []string{"/broken answered 500 Internal Server Error"}},
		{name: "404", dep: at("/missing"), wantStatus: StatusUnhealthy, wantErr: []string{"404 Not Found"}},
		{name: "closed port", wantStatus: StatusUnhealthy, wantErr: []string{"connection refused"}, dep: func(t *testing.T) Dependency {
			return Dependency{Name: "api", Kind: KindHTTP, Target: "http://" + testutil.ClosedAddr(t) + "/health"}
		}},
		{name: "no answer", wantStatus: StatusUnhealthy, wantErr: []string{"no answer within 200ms"}, dep: func(t *testing.T) Dependency {
			return Dependency{Name: "api", Kind: KindHTTP, Target: "http://" + listen(t, silent) + "/health", Timeout: 200 * time.Millisecond}
		}},
	})
}

func TestCheckPostgres(t *testing.T) {
	pg := func(edit func(*url.URL)) func(*testing.T) Dependency {
		return func(t *testing.T) Dependency {
			return Dependency{Name: "postgresql", Kind: KindPostgres, Target: pgURL(t, edit), Timeout: 10 * time.Second}
		}
	}
	at := func(addr string) string { return "postgres://postgres@" + addr + "/postgres?sslmode=disable" }
	runChecks(t, []checkCase{
		{name: "healthy", wantStatus: StatusHealthy, dep: pg(func(*url.URL) {})},
		{name: "wrong password", wantStatus: StatusUnhealthy, wantErr: []string{"password authentication failed", "28P01"},
			dep: pg(func(u *url.URL) {
				pw, ok := u.User.Password()
				if !ok {
					testutil.Unavailable(t, "the PostgreSQL server's URL has no password, so it cannot be asked to refuse a wrong one: point "+testutil.EnvPostgresURL+" at a server that authenticates by password")
				}
				u.User = url.UserPassword(u.User.Username(), pw+"-wrong")
			})},
		{name: "wrong database", wantStatus: StatusUnhealthy, wantErr: []string{`database "neuron_no_such_db" does not exist`},
			dep: pg(func(u *url.URL) { u.Path = "/neuron_no_such_db" })},
		{name: "not postgres", wantStatus: StatusUnhealthy, dep: func(t *testing.T) Dependency {
			return Dependency{Name: "postgresql", Kind: KindPostgres, Target: at(listen(t, garbage))}
		}},
		{name: "no answer", wantStatus: StatusUnhealthy, wantErr: []string{"no answer within 200ms"}, dep: func(t *testing.T) Dependency {
			return Dependency{Name: "postgresql", Kind: KindPostgres, Target: at(listen(t, silent)), Timeout: 200 * time.Millisecond}
		}},
		{name: "closed port", wantStatus: StatusUnhealthy, wantErr: []string{"connection refused"}, dep: func(t *testing.T) Dependency {
			return Dependency{Name: "postgresql", Kind: KindPostgres, Target: at(testutil.ClosedAddr(t))}
		}},
	})
}

func TestCheckRedis(t *testing.T) {
	// A private server with a password, set the way an operator would.
	locked := testutil.StartRedis(t)
	if got := redisDo(t, locked.Addr, "CONFIG SET requirepass s3cret"); got != "+OK" {
		t.Fatalf("CONFIG SET requirepass: %s", got)
	}
	redisAt := func(target string) func(*testing.T) Dependency {
		return func(*testing.T) Dependency { return Dependency{Name: "redis", Kind: KindRedis, Target: target} }
	}
	runChecks(t, []checkCase{
		{name: "host:port", wantStatus: StatusHealthy, dep: func(t *testing.T) Dependency {
			return Dependency{Name: "redis", Kind: KindRedis, Target: testutil.Redis(t)}
		}},
		{name: "url with db", wantStatus: StatusHealthy, dep: func(t *testing.T) Dependency {
			return Dependency{Name: "redis", Kind: KindRedis, Target: "redis://" + testutil.Redis(t) + "/3"}
		}},
		{name: "password", wantStatus: StatusHealthy, dep: redisAt("redis://:s3cret@" + locked.Addr)},
		{name: "wrong password", wantStatus: StatusUnhealthy, wantErr: []string{"WRONGPASS"}, dep: redisAt("redis://:nope@" + locked.Addr)},
		{name: "no password", wantStatus: StatusUnhealthy, wantErr: []string{"NOAUTH"}, dep: redisAt(locked.Addr)},
		{name: "not redis", wantStatus: StatusUnhealthy, dep: func(t *testing.T) Dependency {
			return Dependency{Name: "redis", Kind: KindRedis, Target: listen(t, garbage)}
		}},
		{name: "no answer", wantStatus: StatusUnhealthy, wantErr: []string{"no answer within 200ms"}, dep: func(t *testing.T) Dependency {
			return Dependency{Name: "redis", Kind: KindRedis, Target: listen(t, silent), Timeout: 200 * time.Millisecond}
		}},
		{name: "closed port", wantStatus: StatusUnhealthy, wantErr: []string{"connection refused"}, dep: func(t *testing.T) Dependency {
			return Dependency{Name: "redis", Kind: KindRedis, Target: testutil.ClosedAddr(t)}
		}},
	})
}

func TestCheckInvalidDependency(t *testing.T) {
	r := Check(t.Context(), Dependency{Name: "x", Kind: "amqp", Target: "h:1"})
	if r.Status != StatusUnhealthy || !strings.Contains(r.Error, `unknown kind "amqp"`) {
		t.Fatalf("Check(invalid) = %+v, want unhealthy with the validation error", r)
	}
}

// Each probe must close its connection: a probe every 15s that leaked one
// would exhaust the server's connection table within hours.
func TestPostgresProbeClosesConnections(t *testing.T) {
	noGC(t)
	app := fmt.Sprintf("neuron-probe-test-%d", time.Now().UnixNano())
	target := pgURL(t, func(u *url.URL) {
		q := u.Query()
		q.Set("application_name", app)
		u.RawQuery = q.Encode()
	})
	d := Dependency{Name: "postgresql", Kind: KindPostgres, Target: target, Timeout: 10 * time.Second}
	for i := range 20 {
		if r := Check(t.Context(), d); r.Status != StatusHealthy {
			t.Fatalf("probe %d: %s: %s", i, r.Status, r.Error)
		}
	}
	ctx := t.Context()
	observer, err := pgconn.Connect(ctx, testutil.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer observer.Close(context.Background())
	var open string
	testutil.Eventually(t, 30*time.Second, "the probes' connections to close", func() bool {
		res := observer.ExecParams(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
			[][]byte{[]byte(app)}, nil, nil, nil).Read()
		if res.Err != nil {
			t.Fatalf("count connections: %v", res.Err)
		}
		open = string(res.Rows[0][0])
		return open == "0"
	})
}

func TestRedisProbeClosesConnections(t *testing.T) {
	noGC(t)
	server := testutil.StartRedis(t)
	d := Dependency{Name: "redis", Kind: KindRedis, Target: server.Addr}
	before := infoField(redisDo(t, server.Addr, "INFO stats"), "total_connections_received")
	for i := range 20 {
		if r := Check(t.Context(), d); r.Status != StatusHealthy {
			t.Fatalf("probe %d: %s: %s", i, r.Status, r.Error)
		}
	}
	// The second INFO's own connection makes 21.
	after := infoField(redisDo(t, server.Addr, "INFO stats"), "total_connections_received")
	if n, m := atoi(t, before), atoi(t, after); m-n != 21 {
		t.Fatalf("total_connections_received went from %d to %d over 20 probes, want one connection each", n, m)
	}
	testutil.Eventually(t, 30*time.Second, "the probes' connections to close", func() bool {
		// The INFO command's own connection is the only client left.
		return infoField(redisDo(t, server.Addr, "INFO clients"), "connected_clients") == "1"
	})
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// noGC turns the garbage collector off for the test, so that a connection
// a probe leaves open is not closed behind its back by the finalizer of
// its file descriptor.
func noGC(t *testing.T) {
	old := debug.SetGCPercent(-1)
	t.Cleanup(func() { debug.SetGCPercent(old) })
}
