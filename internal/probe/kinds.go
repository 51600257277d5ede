package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Every probe opens its own connection and closes it before returning,
// rather than keeping a client per dependency: a pooled connection can
// outlive the server's restart or hide a full connection table, while a
// fresh one proves what a new client of the service would see, and nothing
// is left open between probes. At one probe per interval the cost is one
// handshake.

// probes holds the probe function of each kind; ctx bounds the whole probe.
var probes = map[Kind]func(ctx context.Context, target string) error{
	KindTCP:      probeTCP,
	KindHTTP:     probeHTTP,
	KindPostgres: probePostgres,
	KindRedis:    probeRedis,
}

func probeTCP(ctx context.Context, target string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return err
	}
	return conn.Close()
}

// httpClient makes one connection per probe (no keep-alive) and does not
// follow redirects: a 3xx is itself a healthy answer.
var httpClient = &http.Client{
	Transport: &http.Transport{
		Proxy:             http.ProxyFromEnvironment,
		DisableKeepAlives: true,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func probeHTTP(ctx context.Context, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("User-Agent", "neuron-probe")
	resp, err := httpClient.Do(req)
	if err != nil {
		return urlError(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s answered %s", redact(target), resp.Status)
	}
	return nil
}

func probePostgres(ctx context.Context, target string) error {
	conn, err := pgconn.Connect(ctx, target)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "SELECT 1").ReadAll()
	if cerr := conn.Close(ctx); err == nil && cerr != nil {
		return fmt.Errorf("close: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("SELECT 1: %w", err)
	}
	return nil
}

func probeRedis(ctx context.Context, target string) error {
	opts := &redis.Options{Network: "tcp", Addr: target}
	if strings.Contains(target, "://") {
		var err error
		if opts, err = redis.ParseURL(target); err != nil {
			return urlError(err)
		}
	}
	// Dial here rather than in go-redis's pool, which retries a refused
	// dial five times, logs each failure to stderr and keeps redialling in
	// the background: one probe is one connection attempt.
	conn, err := dialRedis(ctx, opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	handed := false
	opts.Dialer = func(context.Context, string, string) (net.Conn, error) {
		if handed {
			return nil, errors.New("the probe's connection was already used")
		}
		handed = true
		return conn, nil
	}
	opts.MaxRetries = -1 // one try: a retry would hide a flapping server
	opts.PoolSize = 1
	opts.Protocol = 2 // plain AUTH, SELECT and PING, no HELLO negotiation
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	opts.ContextTimeoutEnabled = true
	client := redis.NewClient(opts)
	pong, err := client.Ping(ctx).Result()
	_ = client.Close() // closes conn; the deferred Close is for when it was never handed over
	if err != nil {
		return fmt.Errorf("PING: %w", err)
	}
	if pong != "PONG" {
		return fmt.Errorf("PING answered %q, not PONG", pong)
	}
	return nil
}

// dialRedis opens the connection a Redis probe uses, with TLS when the
// options ask for it.
func dialRedis(ctx context.Context, opts *redis.Options) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, opts.Network, opts.Addr)
	if err != nil || opts.TLSConfig == nil {
		return conn, err
	}
	tc := tls.Client(conn, opts.TLSConfig)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}
