package probe

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
)

// listen starts a TCP server on loopback that hands every connection to
// serve and closes it afterwards, and returns its address.
func listen(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer conn.Close(); serve(conn) })
		}
	})
	return l.Addr().String()
}

// garbage answers every connection with bytes no protocol accepts.
func garbage(conn net.Conn) {
	_, _ = conn.Write([]byte("garbage \x00\xff not a protocol\r\n"))
	_, _ = io.Copy(io.Discard, conn)
}

// silent accepts connections and never answers.
func silent(conn net.Conn) { _, _ = io.Copy(io.Discard, conn) }

// pgURL returns the test PostgreSQL server's URL changed by edit.
func pgURL(t *testing.T, edit func(u *url.URL)) string {
	t.Helper()
	u, err := url.Parse(testutil.Postgres(t))
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		testutil.Unavailable(t, testutil.EnvPostgresURL+" is not a postgres:// URL that this test can change: set it to postgres://USER:PASSWORD@HOST:PORT/DATABASE")
	}
	edit(u)
	return u.String()
}

// redisDo sends one inline command to the Redis server at addr and
// returns its reply: the text of a status, error or integer reply, or the
// contents of a bulk string.
func redisDo(t *testing.T, addr, command string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("redis %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "%s\r\n", command); err != nil {
		t.Fatalf("redis %s: %s: %v", addr, command, err)
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("redis %s: %s: %v", addr, command, err)
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "$") {
		return line
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 {
		t.Fatalf("redis %s: %s: reply %q", addr, command, line)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatalf("redis %s: %s: %v", addr, command, err)
	}
	return string(body)
}

// infoField returns one field of a Redis INFO reply.
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}
