// Package devfed is the development federation: the server side of the
// federation wire contract (register, heartbeat, analytics, config), an
// admin API under /api/admin/, liveness from heartbeats, delivery of
// config, experiments and commands (pushed to each neuron's
// update-config, and served to its poll), retention, all persisted in
// SQLite under Options.DataDir. It mounts the dashboard at /. It shares
// with the neuron only the wire types (federation), the checks of runtime
// settings (config.RuntimeSetting) and of experiments (experiment.Compile),
// so that it refuses what a neuron would; it must not link wazero
// (internal/modcheck checks it), which keeps `neuron federation serve` a
// plain server.
//
//	s, err := devfed.Open(devfed.Options{DataDir: dir}) // admin token kept in dir/admin.token
//	...
//	srv := &http.Server{Addr: "127.0.0.1:5000", Handler: s.Handler()}
//	defer s.Close()
//
// See docs/dev-federation.md.
package devfed

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/devfed/store"
)

// Defaults of Options.
const (
	DefaultRetention   = 7 * 24 * time.Hour
	DefaultPushTimeout = 5 * time.Second
	// DefaultTokenTTL is the lifetime of a neuron token: an hour, the
	// usual lifetime of an OAuth access token. A token that leaks (a log,
	// a proxy, a copy of a data directory) is good for an hour at most,
	// and a neuron renewing once an hour is no load on the federation.
	DefaultTokenTTL = time.Hour
	// NoExpiry as Options.TokenTTL issues tokens without exp, valid until
	// the neuron registers again: for a client that cannot renew, such as
	// the reference guide's Python client.
	NoExpiry time.Duration = -1
)

// Options configure a development federation.
type Options struct {
	// DataDir holds DataDir/federation.db, DataDir/token.key (the HMAC
	// secret signing neuron tokens, 0600, created once) and, when
	// AdminToken is empty, DataDir/admin.token. Required.
	DataDir string
	// AdminToken is the bearer of /api/admin/, at least MinAdminTokenLen
	// characters. Empty: the token kept in DataDir/admin.token
	// (AdminTokenFile), generated the first time, so that the dashboard's
	// address survives a restart.
	AdminToken string
	// AllowedHosts are the names, besides IP addresses and localhost,
	// that the dashboard and admin API answer to as Host (421 for others:
	// DNS rebinding protection).
	AllowedHosts []string
	// HeartbeatInterval is the heartbeat period neurons use: a neuron is
	// stale after 2.5x without one, offline after 5x. Default 60s.
	HeartbeatInterval time.Duration
	// Retention: heartbeats, analytics reports and events older than this
	// are deleted (checked every minute). Default 7 days.
	Retention time.Duration
	// PushTimeout bounds one push to a neuron's update-config. Default 5s.
	PushTimeout time.Duration
	// TokenTTL is the lifetime of the neuron tokens issued (their exp);
	// an expired token is refused with 401 and the neuron registers again,
	// presenting it (it still proves the id: see proves). Default
	// DefaultTokenTTL; NoExpiry issues tokens without exp.
	TokenTTL time.Duration
	// RegisterRate and RegisterBurst limit the registrations of one client
	// address: RegisterBurst at once, then RegisterRate per second (429
	// with Retry-After past it). Defaults DefaultRegisterRate and
	// DefaultRegisterBurst.
	RegisterRate  float64
	RegisterBurst int
	// MaxNeurons bounds the neurons kept: a registration of a new id past
	// it is refused (507) until records expire. Default DefaultMaxNeurons.
	MaxNeurons int
	// NeuronExpiry: a neuron that has shown no life (heartbeat or
	// registration) for this long is deleted with its telemetry and
	// deliveries (checked with retention, every minute). It must exceed
	// the offline period (5 heartbeat intervals). Default
	// DefaultNeuronExpiry.
	NeuronExpiry time.Duration
	// Logger receives registrations, conflicts, pushes and rejections.
	// Default slog.Default().
	Logger *slog.Logger
	// Now is the federation's clock; default time.Now (tests move it).
	Now func() time.Time
}

// Server is a running development federation. The caller owns the
// listener: serve Handler, then Close.
type Server struct {
	opts   Options
	log    *slog.Logger
	db     *store.Store
	secret []byte
	h      http.Handler

	client  *http.Client // pushes
	metrics *promMetrics
	limits  *registerLimits
	hosts   map[string]struct{} // Options.AllowedHosts

	pmu     sync.Mutex
	pushers map[string]*pusher // by neuron id, while pushing
	closing bool               // Close has begun: no new pushes
	pushes  sync.WaitGroup     // push loops running

	stop     chan struct{}
	loops    sync.WaitGroup // the retention loop
	closeErr error
	once     sync.Once
}

// Open opens (or creates) the store under o.DataDir, loads or creates the
// token key, and starts the retention loop.
func Open(o Options) (*Server, error) {
	if o.DataDir == "" {
		return nil, errors.New("devfed: Options.DataDir is required (where federation.db and token.key live)")
	}
	o = withDefaults(o)
	if o.NeuronExpiry <= 5*o.HeartbeatInterval {
		return nil, fmt.Errorf("devfed: the neuron expiry %s must exceed the offline period %s (5 heartbeat intervals): "+
			"a live neuron would be forgotten", o.NeuronExpiry, 5*o.HeartbeatInterval)
	}
	secret, err := loadKey(o.DataDir)
	if err != nil {
		return nil, err
	}
	if err := checkAdminToken(o.AdminToken); err != nil {
		return nil, err
	}
	if o.AdminToken == "" {
		if o.AdminToken, err = storedAdminToken(o.DataDir); err != nil {
			return nil, err
		}
	}
	db, err := store.Open(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("devfed: %w", err)
	}
	s := &Server{opts: o, log: o.Logger, db: db, secret: secret, client: newPushClient(),
		limits: newRegisterLimits(o.RegisterRate, o.RegisterBurst), hosts: hostSet(o.AllowedHosts),
		pushers: map[string]*pusher{}, stop: make(chan struct{})}
	s.metrics = newMetrics(s)
	s.h = s.routes()
	s.loops.Add(1)
	go s.retentionLoop()
	return s, nil
}

func withDefaults(o Options) Options {
	o.HeartbeatInterval = positiveOr(o.HeartbeatInterval, federation.DefaultHeartbeatInterval)
	o.Retention = positiveOr(o.Retention, DefaultRetention)
	o.PushTimeout = positiveOr(o.PushTimeout, DefaultPushTimeout)
	if o.TokenTTL == 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	o.RegisterRate = positiveOr(o.RegisterRate, DefaultRegisterRate)
	o.RegisterBurst = positiveOr(o.RegisterBurst, DefaultRegisterBurst)
	o.MaxNeurons = positiveOr(o.MaxNeurons, DefaultMaxNeurons)
	o.NeuronExpiry = positiveOr(o.NeuronExpiry, DefaultNeuronExpiry)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// positiveOr is v, or def when v is not more than zero (unset).
func positiveOr[T int | float64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Handler serves everything: the wire routes, /api/admin/, the
// federation's Prometheus metrics at /metrics and the dashboard at /.
func (s *Server) Handler() http.Handler { return s.h }

// Close stops the retention loop, waits for pushes in flight (each bounded
// by PushTimeout) and closes the store. Calling it again returns the first
// result.
func (s *Server) Close() error {
	s.once.Do(func() {
		close(s.stop)
		s.loops.Wait()
		s.pmu.Lock()
		s.closing = true
		s.pmu.Unlock()
		s.pushes.Wait()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// GenerateToken returns 32 random bytes in base64url: an admin token.
func GenerateToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// now is the federation clock in UTC.
func (s *Server) now() time.Time { return s.opts.Now().UTC() }
