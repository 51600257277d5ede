package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/agent"
	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/internal/devfed"
)

// Defaults of `neuron federation serve` beyond config.DefaultFederationListen.
const (
	defaultFederationData = "./.federation"
	// federationStopTimeout bounds how long shutdown waits for requests in
	// flight (a push to a neuron is bounded by devfed's PushTimeout).
	federationStopTimeout = 10 * time.Second
)

const federationUsage = `Usage: neuron federation serve [flags]

Run a development federation: the server side of the federation wire
contract (POST /api/neuron/register, /api/neuron/status,
/api/analytics/report, GET /api/neuron/config), with a dashboard and an
admin API on the same address. Neurons register with it like with any
federation; the dashboard shows each one live (status, heartbeats, metrics,
analytics, events) and pushes configs, experiments and commands to them.
State is one SQLite file in --data, so a restart keeps the fleet's history.
It is for development and tests: one process, one admin token.

Flags:
%s
The dashboard is at http://ADDR/#token=TOKEN (printed at start: open it in a
browser). The admin API is under /api/admin/, with the same token:
  curl -H "Authorization: Bearer TOKEN" http://127.0.0.1:5000/api/admin/neurons

Example: a federation, and a neuron joining it from another terminal, both
with a short heartbeat for a lively dashboard:
  neuron federation serve --heartbeat-interval 5s
  FEDERATION_URL=http://127.0.0.1:5000 NEURON_HEARTBEAT_INTERVAL=5s neuron run
Both in one process (what 'make run' does):
  FEDERATION_URL=embedded neuron run

Stop it with Ctrl-C (SIGINT) or SIGTERM. Exit status: 0 after a clean stop,
1 when it cannot serve (address taken, data directory unusable), 2 for bad
flags. Everything about it: docs/dev-federation.md.
`

// federationFlags are the settings of `neuron federation serve`.
type federationFlags struct {
	listen, data, token, level string
	hosts                      string
	ttl                        string        // --token-ttl as given
	tokenTTL                   time.Duration // ttl parsed by check, as devfed.Options.TokenTTL
	heartbeat, retention       time.Duration
	expiry                     time.Duration
	maxNeurons                 int
}

// federationFlagSet returns the flag set of `neuron federation serve`,
// filling f; env supplies the defaults that come from the environment.
func federationFlagSet(f *federationFlags, env func(string) string) *flag.FlagSet {
	fs := flag.NewFlagSet("neuron federation serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.listen, "listen", config.DefaultFederationListen, "serve on `ADDR`, host:port; keep it on loopback unless you mean to share the admin API")
	fs.StringVar(&f.data, "data", defaultFederationData, "keep the federation's state (federation.db, token.key) in `DIR`")
	fs.StringVar(&f.token, "admin-token", env("FEDERATION_ADMIN_TOKEN"), "bearer `TOKEN` of the admin API and dashboard (env FEDERATION_ADMIN_TOKEN; default: the one kept in DIR/admin.token, generated the first time)")
	fs.StringVar(&f.hosts, "allowed-hosts", env("FEDERATION_ALLOWED_HOSTS"), "comma-separated `NAMES` the dashboard and admin API answer to besides IP addresses, localhost and the --listen host (env FEDERATION_ALLOWED_HOSTS; others get 421: DNS rebinding protection)")
	fs.DurationVar(&f.heartbeat, "heartbeat-interval", federation.DefaultHeartbeatInterval, "the heartbeat `PERIOD` the neurons use (their NEURON_HEARTBEAT_INTERVAL): stale after 2.5 periods without one, offline after 5")
	fs.StringVar(&f.ttl, "token-ttl", cmp.Or(env("FEDERATION_TOKEN_TTL"), devfed.DefaultTokenTTL.String()), "neuron tokens expire `LIFETIME` after their registration, and neurons renew them before (env FEDERATION_TOKEN_TTL); at least 1s, or 0 for tokens that never expire (for a client that cannot renew)")
	fs.DurationVar(&f.retention, "retention", devfed.DefaultRetention, "delete heartbeats, analytics and events older than `AGE`")
	fs.DurationVar(&f.expiry, "neuron-expiry", devfed.DefaultNeuronExpiry, "forget a neuron (and its telemetry) silent for `AGE`; more than 5 heartbeat intervals")
	fs.IntVar(&f.maxNeurons, "max-neurons", devfed.DefaultMaxNeurons, "keep at most `N` neurons: a new id past it is refused until others expire")
	fs.StringVar(&f.level, "log-level", cmp.Or(env("LOG_LEVEL"), "info"), "log `LEVEL`: debug, info, warn or error (env LOG_LEVEL)")
	return fs
}

// federationHelp writes the help of `neuron federation serve`.
func federationHelp(w io.Writer) {
	var b strings.Builder
	fs := federationFlagSet(&federationFlags{}, func(string) string { return "" })
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fmt.Fprintf(w, federationUsage, b.String())
}

// federationCmd runs `neuron federation ...`: only `serve` so far.
func federationCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "neuron federation: expected 'serve'\n\n")
		federationHelp(stderr)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return federationServe(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help", "-help":
		federationHelp(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "neuron federation: unknown command %q, expected 'serve'\nRun 'neuron federation serve --help' for what it does.\n", args[0])
	return exitUsage
}

// federationServe runs `neuron federation serve` until ctx ends.
func federationServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f federationFlags
	fs := federationFlagSet(&f, os.Getenv)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		federationHelp(stdout)
		return exitOK
	case err == nil:
		err = f.check(fs)
	}
	if err != nil {
		fmt.Fprintf(stderr, "neuron federation serve: %v\nRun 'neuron federation serve --help' for the flags.\n", err)
		return exitUsage
	}
	log := agent.NewLogger(stderr, f.level)
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		fmt.Fprintf(stderr, "neuron federation serve: cannot listen on %s: %v (choose a free host:port with --listen, or stop what holds it)\n", f.listen, err)
		return exitFailure
	}
	d, err := devfed.Serve(ln, devfed.Options{
		DataDir: f.data, AdminToken: f.token, HeartbeatInterval: f.heartbeat, Retention: f.retention, Logger: log,
		NeuronExpiry: f.expiry, MaxNeurons: f.maxNeurons, AllowedHosts: f.allowedHosts(), TokenTTL: f.tokenTTL,
	})
	if err != nil {
		fmt.Fprintf(stderr, "neuron federation serve: %v\n", err)
		return exitFailure
	}
	log.Info("development federation serving", "url", d.URL(), "data", f.data, "heartbeat_interval", f.heartbeat,
		"retention", f.retention, "neuron_expiry", f.expiry, "max_neurons", f.maxNeurons, "token_ttl", f.ttl, "admin_token", tokenSource(f.token, f.data))
	fmt.Fprintf(stdout, "dashboard: %s\nneurons join with: FEDERATION_URL=%s neuron run\n", d.Dashboard(), d.URL())
	<-ctx.Done()
	log.Info("stopping the development federation")
	stop, cancel := context.WithTimeout(context.Background(), federationStopTimeout)
	defer cancel()
	if err := d.Stop(stop); err != nil {
		fmt.Fprintf(stderr, "neuron federation serve: stop: %v\n", err)
		return exitFailure
	}
	log.Info("development federation stopped")
	return exitOK
}

// tokenSource says where the admin token comes from, for the log: the
// flag or environment, or the file in the data directory (generated the
// first time).
func tokenSource(token, dataDir string) string {
	if token != "" {
		return "given (--admin-token or FEDERATION_ADMIN_TOKEN)"
	}
	return "kept in " + filepath.Join(dataDir, devfed.AdminTokenFile)
}

// allowedHosts are the names of --allowed-hosts and the --listen host.
func (f *federationFlags) allowedHosts() []string {
	names := strings.Split(f.hosts, ",")
	if host, _, err := net.SplitHostPort(f.listen); err == nil && host != "" {
		names = append(names, host)
	}
	return names
}

// check validates the flags that parsing alone does not.
func (f *federationFlags) check(fs *flag.FlagSet) error {
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if _, _, err := net.SplitHostPort(f.listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: want host:port, e.g. 127.0.0.1:5000 (%v)", f.listen, err))
	}
	if f.token != "" && len(f.token) < devfed.MinAdminTokenLen {
		errs = append(errs, fmt.Errorf("--admin-token (or FEDERATION_ADMIN_TOKEN): %d characters, fewer than %d: use a random one (`openssl rand -base64 32`), or give none to have one generated", len(f.token), devfed.MinAdminTokenLen))
	}
	if strings.TrimSpace(f.data) == "" {
		errs = append(errs, errors.New("--data: must not be empty"))
	}
	if f.heartbeat <= 0 {
		errs = append(errs, fmt.Errorf("--heartbeat-interval %s: must be more than 0", f.heartbeat))
	}
	if f.retention <= 0 {
		errs = append(errs, fmt.Errorf("--retention %s: must be more than 0", f.retention))
	}
	if f.expiry <= 5*f.heartbeat {
		errs = append(errs, fmt.Errorf("--neuron-expiry %s: must be more than 5 heartbeat intervals (%s), the offline period", f.expiry, 5*f.heartbeat))
	}
	if err := f.checkTTL(); err != nil {
		errs = append(errs, err)
	}
	if f.maxNeurons <= 0 {
		errs = append(errs, fmt.Errorf("--max-neurons %d: must be more than 0", f.maxNeurons))
	}
	switch strings.ToLower(f.level) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.level))
	}
	return errors.Join(errs...)
}

// checkTTL parses --token-ttl into tokenTTL: 0 is devfed.NoExpiry, and a
// lifetime under a second is refused, as exp is in whole seconds.
func (f *federationFlags) checkTTL() error {
	d, err := time.ParseDuration(f.ttl)
	switch {
	case err != nil:
		return fmt.Errorf("--token-ttl (or FEDERATION_TOKEN_TTL) %q: want a duration such as 1h or 90s, or 0 for tokens that never expire", f.ttl)
	case d == 0:
		f.tokenTTL = devfed.NoExpiry
	case d < time.Second:
		return fmt.Errorf("--token-ttl (or FEDERATION_TOKEN_TTL) %s: at least 1s (a token's exp is in whole seconds), or 0 for tokens that never expire", d)
	default:
		f.tokenTTL = d
	}
	return nil
}
