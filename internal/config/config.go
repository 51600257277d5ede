// Package config loads the configuration of `neuron run`.
//
// Configuration is layered, later wins: built-in defaults < a YAML file
// (--config FILE or NEURON_CONFIG) < environment variables < command-line
// flags. Federation updates come later, at run time, through the same
// checks. docs/configuration.md lists every key.
//
// Load decodes strictly (an unknown key is an error) and validates once,
// completely: it returns every problem at once, each naming the key and
// where it came from. A Config that Load returned is valid; treat it as
// immutable.
//
// Each layer is read into a map and checked on its own before koanf merges
// them: the environment through koanf's env provider and the flags through
// its basicflag provider, both over explicit tables whose names are the
// contract (sources.go); the YAML file by hand, through a yaml.Node, so
// that every error names its line. The package reads and checks only: it
// starts nothing, keeps no state between calls of Load, and never reads the
// process's environment when its caller passes a lookup. It must not import
// the runtime or wazero: the limits it checks are internal/limits', so the
// development federation, which checks runtime settings with
// RuntimeSetting, links no wazero through it.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/v2"

	"github.com/empirefederation/neuron/internal/limits"
	"github.com/empirefederation/neuron/internal/probe"
	"github.com/empirefederation/neuron/internal/signature"
)

// Config is the configuration of one neuron. YAML keys are the koanf tags.
type Config struct {
	// ID is the neuron's unique id (NEURON_ID). By default it is the
	// lowercase hostname with every character outside [a-z0-9-] replaced
	// by '-'.
	ID string `koanf:"id"`
	// Name is the display name (NEURON_NAME); by default the ID.
	Name string `koanf:"name"`
	// Listen is the address the neuron serves on (NEURON_LISTEN).
	Listen string `koanf:"listen"`
	// BaseURL is the URL the federation uses to reach this neuron
	// (NEURON_BASE_URL), without a trailing slash. By default it is
	// BaseURLFor(Listen).
	BaseURL string `koanf:"baseUrl"`
	// PluginsDir is the directory watched for .wasm processors.
	PluginsDir string `koanf:"pluginsDir"`
	// PluginsWatch makes the neuron follow the plugins directory while it
	// runs (NEURON_PLUGINS_WATCH, default true): a file added, changed or
	// removed there is loaded, swapped or unloaded without a restart.
	PluginsWatch bool `koanf:"pluginsWatch"`
	// PluginsWatchQuiet is how long the plugins directory must stay silent
	// after a change before it is synced (NEURON_PLUGINS_WATCH_QUIET),
	// more than 0; see watch.DefaultQuiet.
	PluginsWatchQuiet time.Duration `koanf:"pluginsWatchQuiet"`
	// DrainTimeout bounds how long a replaced or unloaded processor version
	// may finish its in-flight calls (NEURON_DRAIN_TIMEOUT).
	DrainTimeout time.Duration `koanf:"drainTimeout"`
	// KeepVersions is how many replaced versions of each processor are kept
	// on disk for rollback (NEURON_KEEP_VERSIONS).
	KeepVersions int `koanf:"keepVersions"`
	// RequestBodyBudget bounds the bytes of request bodies held at once
	// across every endpoint (NEURON_REQUEST_BODY_BUDGET); see
	// runtime.Options.RequestBodyBudget.
	RequestBodyBudget int64 `koanf:"requestBodyBudget"`
	// RequestBodyTimeout bounds the reading of one request body
	// (NEURON_REQUEST_BODY_TIMEOUT); see runtime.Options.RequestBodyTimeout.
	RequestBodyTimeout time.Duration `koanf:"requestBodyTimeout"`
	// RateLimit is the requests per second one caller (client address)
	// may make across the processor endpoints (NEURON_RATE_LIMIT); 0, the
	// default, is unlimited. RateBurst is how many at once
	// (NEURON_RATE_BURST); 0 is one second's worth. RateLimits are the
	// requests per second each processor, by name, takes across callers.
	// The settings keys of the same names (rateLimit, rateBurst,
	// rateLimits.NAME) override them at run time. See
	// runtime.Options.RateLimits.
	RateLimit  float64            `koanf:"rateLimit"`
	RateBurst  int                `koanf:"rateBurst"`
	RateLimits map[string]float64 `koanf:"rateLimits"`
	// DataDir holds durable state: analytics spool, compilation cache,
	// last good config.
	DataDir string `koanf:"dataDir"`
	// LogLevel is debug, info, warn or error, always lowercase.
	LogLevel string `koanf:"logLevel"`
	// ShutdownTimeout bounds how long shutdown waits for in-flight calls.
	ShutdownTimeout time.Duration `koanf:"shutdownTimeout"`
	// Federation is how the neuron joins a control plane.
	Federation Federation `koanf:"federation"`
	// TLS makes the neuron serve HTTPS; empty serves plain HTTP.
	TLS TLS `koanf:"tls"`
	// Limits are the neuron's default limits for every processor.
	Limits limits.Limits `koanf:"limits"`
	// PluginLimits override Limits per processor, keyed by processor name;
	// zero fields inherit; the runtime lays the manifest between the two.
	PluginLimits map[string]limits.Limits `koanf:"pluginLimits"`
	// MaxLimits are the operator's maximums (runtime.Options.MaxLimits):
	// a processor whose manifest asks for more is refused, and Limits and
	// PluginLimits above them are a configuration error. Each is at most
	// limits.HardMax.
	MaxLimits limits.Limits `koanf:"maxLimits"`
	// Plugins are per-processor settings, keyed by processor name: what a
	// processor reads as its config.
	Plugins map[string]map[string]any `koanf:"plugins"`
	// Settings is the flat runtime config map (batchSize, maxRetries,
	// timeoutSeconds, enableDebugMode, ...) that processors also see.
	Settings map[string]any `koanf:"settings"`
	// PinnedSettings are the settings no federation update may set: flat
	// keys ("timeoutSeconds"), one processor's ("plugins.hello.greeting")
	// or all of one processor's ("plugins.hello.*").
	PinnedSettings []string `koanf:"pinnedSettings"`
	// AllowPermissions lists the permissions processors may be granted:
	// PermissionFilesystem, PermissionEnvironment.
	AllowPermissions []string `koanf:"allowPermissions"`
	// PluginHosts, when not empty, are the only hosts ("host" or
	// "host:port") load_plugin may download a module from, redirects
	// included; empty allows any (see control.Downloads).
	PluginHosts []string `koanf:"pluginHosts"`
	// PluginSources are references of processors in OCI registries
	// (NEURON_PLUGIN_SOURCES), each host[:port]/repo:tag or
	// host[:port]/repo@sha256:HEX (checked by internal/ociref): pulled
	// into DATA/sources before the neuron is ready, and served from there
	// when their registry is down at a later start.
	PluginSources []string `koanf:"pluginSources"`
	// PluginSourcesPoll is the period at which the tags of PluginSources
	// (and of references load_plugin pulled) are resolved again, a moved
	// one pulled and swapped in (NEURON_PLUGIN_SOURCES_POLL); 0, the
	// default, never: reload_plugin picks up a moved tag.
	PluginSourcesPoll time.Duration `koanf:"pluginSourcesPoll"`
	// InsecureRegistries are registries ("host" or "host:port") reached
	// over plain HTTP (NEURON_INSECURE_REGISTRIES); loopback ones always
	// are. The others are reached over HTTPS only.
	InsecureRegistries []string `koanf:"insecureRegistries"`
	// TrustedKeys are PEM files of Ed25519 public keys
	// (NEURON_TRUSTED_KEYS): when any is set, every processor must be
	// signed by one of them (`neuron plugin sign`), checked before it is
	// compiled; see runtime.Options.Trust. Load checks that each file
	// holds such a key. Empty, the default, checks no signature.
	TrustedKeys []string `koanf:"trustedKeys"`
	// Dependencies are the services the neuron probes in the background
	// (NEURON_DEPENDENCIES); their health goes into heartbeats and their
	// names into the registration. Names are unique, and Load fills the
	// defaults and checks each with package probe's own checks, so the
	// list goes to probe.Start as it is.
	Dependencies []probe.Dependency `koanf:"dependencies"`
	// Auth is how callers of processor endpoints authenticate.
	Auth Auth `koanf:"auth"`
	// Trust holds the keys of TrustedKeys, read by Load (nil when there is
	// none): what runtime.Options.Trust and load_plugin check signatures
	// with. It is not a configuration key.
	Trust *signature.Verifier `koanf:"-"`
	// File is the YAML file that was read, or "" when there was none.
	File string `koanf:"-"`
	// BuildVersion is the neuron binary's version, reported in
	// heartbeats. It is not a configuration key: Load leaves it empty and
	// the command sets it from its build info.
	BuildVersion string `koanf:"-"`
}

// Federation is how the neuron joins a control plane.
type Federation struct {
	// URL is the federation's base URL (FEDERATION_URL): empty runs
	// standalone, FederationEmbedded starts a development federation in
	// the process, anything else is an http(s) URL without trailing slash.
	URL string `koanf:"url"`
	// Listen is where the development federation that URL
	// FederationEmbedded starts listens (FEDERATION_LISTEN), host:port;
	// DefaultFederationListen by default, where `neuron federation serve`
	// listens too. Unused otherwise.
	Listen string `koanf:"listen"`
	// AdminToken is the bearer of that development federation's admin
	// API and dashboard (FEDERATION_ADMIN_TOKEN, as for `neuron federation
	// serve`); empty: the agent generates one at each start and prints it.
	// Unused unless URL is FederationEmbedded.
	AdminToken string `koanf:"adminToken"`
	// HeartbeatInterval is the heartbeat period.
	HeartbeatInterval time.Duration `koanf:"heartbeatInterval"`
	// AnalyticsInterval is the analytics report period.
	AnalyticsInterval time.Duration `koanf:"analyticsInterval"`
	// ConfigPollInterval is the period of GET /api/neuron/config.
	ConfigPollInterval time.Duration `koanf:"configPollInterval"`
	// SpoolMaxReports and SpoolMaxBytes bound the analytics reports kept
	// on disk (in DataDir/spool) while the federation is away; past them
	// the oldest are dropped, counted and reported.
	SpoolMaxReports int   `koanf:"spoolMaxReports"`
	SpoolMaxBytes   int64 `koanf:"spoolMaxBytes"`
	// Type is the registration's type (NEURON_TYPE), "wasm-neuron" by
	// default.
	Type string `koanf:"type"`
	// Capabilities are added to those the processors' manifests declare
	// (NEURON_CAPABILITIES); each is [a-z0-9_.-]+, without duplicates.
	Capabilities []string `koanf:"capabilities"`
	// Metadata is sent with the registration as it is, e.g. environment
	// and region (NEURON_METADATA).
	Metadata map[string]string `koanf:"metadata"`
	// ResourceRequirements go into the registration; the agent fills the
	// fields left empty.
	ResourceRequirements ResourceRequirements `koanf:"resourceRequirements"`
	// DeploymentInfo goes into the registration; the agent fills the
	// fields left empty.
	DeploymentInfo DeploymentInfo `koanf:"deploymentInfo"`
	// AlertThresholds are sent with the registration and are what the
	// neuron measures itself against: crossing one makes it degraded.
	AlertThresholds AlertThresholds `koanf:"alertThresholds"`
	// CA is a PEM bundle of the CAs that sign the federation's
	// certificate (FEDERATION_CA); empty: the system's roots. Only with
	// an https URL.
	CA string `koanf:"ca"`
	// ClientCert and ClientKey are the PEM files of the certificate the
	// neuron presents to the federation (FEDERATION_CLIENT_CERT,
	// FEDERATION_CLIENT_KEY), both or neither; re-read when they change.
	// Only with an https URL.
	ClientCert string `koanf:"clientCert"`
	ClientKey  string `koanf:"clientKey"`
	// AllowHTTP allows a plain http URL to a federation not on loopback
	// (FEDERATION_ALLOW_HTTP): its token and reports then cross the
	// network in clear. Off, such a URL is a configuration error.
	AllowHTTP bool `koanf:"allowHttp"`
}

// TLS is the neuron's HTTPS serving (see checkTLS).
type TLS struct {
	// Cert and Key are the PEM files of the serving certificate (with its
	// chain) and its private key (NEURON_TLS_CERT, NEURON_TLS_KEY), both
	// or neither. They are re-read when they change, without a restart.
	Cert string `koanf:"cert"`
	Key  string `koanf:"key"`
	// ClientCA is a PEM bundle of the CAs whose client certificates the
	// update route requires (NEURON_TLS_CLIENT_CA); empty: the update
	// route takes the federation's bearer alone. Needs Cert and Key.
	ClientCA string `koanf:"clientCA"`
}

// ResourceRequirements is what the neuron says it needs, as free text in
// the reference's style ("2 cores", "4GB"); empty fields are computed by
// the agent.
type ResourceRequirements struct {
	CPU     string `koanf:"cpu"`
	Memory  string `koanf:"memory"`
	Storage string `koanf:"storage"`
}

// DeploymentInfo says how the neuron is deployed; empty fields are
// computed by the agent.
type DeploymentInfo struct {
	// Type is e.g. "container" or "process".
	Type string `koanf:"type"`
	// Image is the container image, if any.
	Image string `koanf:"image"`
	// Ports are the ports the neuron serves on, each 1 to 65535.
	Ports []int `koanf:"ports"`
}

// AlertThresholds are the limits whose crossing sets the neuron's status
// to degraded and emits an alert event. Load always sets all three.
type AlertThresholds struct {
	// ErrorRate is the percent of calls answered 5xx over an interval, in
	// (0, 100]; default 5.
	ErrorRate float64 `koanf:"errorRate"`
	// ResponseTime is the average call duration in milliseconds, more
	// than 0; default 2000.
	ResponseTime float64 `koanf:"responseTime"`
	// HealthScore is the health score below which the neuron is degraded,
	// in [0, 100]; default 80.
	HealthScore float64 `koanf:"healthScore"`
}

// UsageError reports bad command-line arguments: `neuron run` exits 2 on
// it. It wraps flag.ErrHelp when help was asked for.
type UsageError struct {
	Err error
}

// Error implements error.
func (e *UsageError) Error() string { return "config: " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *UsageError) Unwrap() error { return e.Err }

// DefaultDataDir is the data directory when none is configured.
const DefaultDataDir = "./.neuron"

// Load reads the configuration from args (the arguments after `neuron
// run`), the YAML file they or the environment name, and the environment
// as lookupEnv reports it (os.LookupEnv when nil).
//
// # Errors
//
// A *UsageError for bad arguments (wrapping flag.ErrHelp for -h). Otherwise
// every problem found, joined with errors.Join, each starting with "config:" and
// naming the key and its source.
func Load(args []string, lookupEnv func(string) (string, bool)) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	fs := FlagSet()
	if err := fs.Parse(args); err != nil {
		return nil, &UsageError{Err: err}
	}
	if fs.NArg() > 0 {
		return nil, &UsageError{Err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	layers := []layer{defaultsLayer()}
	var errs []error
	file, _ := lookupEnv("NEURON_CONFIG")
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" {
			file = f.Value.String()
		}
	})
	if file != "" {
		if l, err := readFile(file); err != nil {
			errs = append(errs, err)
		} else {
			layers = append(layers, l)
		}
	}
	layers = append(layers, envLayer(lookupEnv), flagLayer(fs))
	cfg, err := build(layers)
	if err := errors.Join(append(errs, err)...); err != nil {
		return nil, err
	}
	cfg.File = file
	// Each file was read as it was checked; a file that changed since is
	// refused too.
	if cfg.Trust, err = signature.LoadVerifier(cfg.TrustedKeys); err != nil {
		return nil, fmt.Errorf("config: trustedKeys: %w", err)
	}
	return cfg, nil
}

// readFile reads the YAML file name. It uses os.ReadFile, not koanf's file
// provider, which would clean the path its errors name ("open
// ./neuron.yaml" would become "open neuron.yaml") and whose one other
// feature, watching the file, nothing here uses.
func readFile(name string) (layer, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return layer{}, fmt.Errorf("config: read file: %w", err)
	}
	return yamlLayer(name, data)
}

// build checks each layer, merges them with koanf, decodes the result and
// validates it as a whole.
func build(layers []layer) (*Config, error) {
	c := &checker{prov: map[string]string{}}
	k := koanf.New(".")
	for _, l := range layers {
		// The delimiter is "" so that names with dots (a processor
		// "com.example.x") stay whole.
		if err := k.Load(confmap.Provider(c.check(l), ""), nil); err != nil {
			return nil, fmt.Errorf("config: merge: %w", err)
		}
	}
	var cfg Config
	err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{DecoderConfig: &mapstructure.DecoderConfig{
		TagName:     "koanf",
		ErrorUnused: true, // the schema already refused unknown keys; belt and braces
		DecodeHook:  decodeLimits,
	}})
	if err != nil {
		return nil, fmt.Errorf("config: decode: %w", err)
	}
	c.crossCheck(&cfg)
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	derive(&cfg, os.Hostname)
	return &cfg, nil
}

// crossCheck validates what no single key can: effective limits.
func (c *checker) crossCheck(cfg *Config) {
	l := cfg.Limits
	for _, z := range []struct {
		key  string
		zero bool
	}{
		{"limits.memoryPages", l.MemoryPages == 0},
		{"limits.callTimeout", l.CallTimeout == 0},
		{"limits.maxBodyBytes", l.MaxBodyBytes == 0},
		{"limits.maxResponseBytes", l.MaxResponseBytes == 0},
		{"limits.poolMax", l.PoolMax == 0},
		{"limits.startTimeout", l.StartTimeout == 0},
	} {
		if z.zero {
			c.errs = append(c.errs, fmt.Errorf("config: %s in %s: must be positive", z.key, c.prov[z.key]))
		}
	}
	// Beyond a zero Limits lists the positive fields: every maximum must be.
	positive := map[string]bool{}
	for _, x := range cfg.MaxLimits.Beyond(limits.Limits{}) {
		positive[x.Key] = true
	}
	for _, x := range limits.HardMax().Beyond(limits.Limits{}) {
		if key := "maxLimits." + x.Key; !positive[x.Key] {
			c.errs = append(c.errs, fmt.Errorf("config: %s in %s: must be positive", key, c.prov[key]))
		}
	}
	c.checkPool("limits", "limits", l)
	for _, name := range sortedKeys(cfg.PluginLimits) {
		if pl := cfg.PluginLimits[name]; pl.PoolMin != 0 || pl.PoolMax != 0 { // else the check above covers it
			c.checkPool(join("pluginLimits", name), "limits", l.Override(pl))
		}
	}
	c.checkMax(cfg)
	c.checkTLS(cfg)
}

// checkMax reports limits and pluginLimits above maxLimits, naming where
// each was set. A built-in default above a maximum the operator lowered
// gives way to it instead, as runtime.New does.
func (c *checker) checkMax(cfg *Config) {
	check := func(prefix string, l limits.Limits) {
		for _, x := range l.Beyond(cfg.MaxLimits) {
			key := prefix + "." + x.Key
			c.errs = append(c.errs, fmt.Errorf("config: %s %s in %s is above maxLimits.%s %s (in %s): lower it or raise maxLimits.%s",
				key, x.Value, c.prov[key], x.Key, x.Max, c.prov["maxLimits."+x.Key], x.Key))
		}
	}
	set := c.operatorLimits(cfg.Limits)
	check("limits", set)
	for _, name := range sortedKeys(cfg.PluginLimits) {
		check(join("pluginLimits", name), cfg.PluginLimits[name])
	}
	cfg.Limits = cfg.Limits.ClampTo(cfg.MaxLimits).Override(set)
}

// operatorLimits returns l, the top-level limits, without the fields that
// only the built-in defaults set.
func (c *checker) operatorLimits(l limits.Limits) limits.Limits {
	return l.Keep(func(key string) bool { return c.prov["limits."+key] != "defaults" })
}

// checkPool reports poolMin > poolMax; each is looked up under prefix, or
// under fallback when prefix does not set it.
func (c *checker) checkPool(prefix, fallback string, l limits.Limits) {
	if l.PoolMax == 0 || l.PoolMin <= l.PoolMax {
		return
	}
	at := func(field string) string {
		if w, ok := c.prov[prefix+"."+field]; ok {
			return fmt.Sprintf("%s.%s in %s", prefix, field, w)
		}
		return fmt.Sprintf("%s.%s in %s", fallback, field, c.prov[fallback+"."+field])
	}
	c.errs = append(c.errs, fmt.Errorf("config: poolMin %d (%s) exceeds poolMax %d (%s)",
		l.PoolMin, at("poolMin"), l.PoolMax, at("poolMax")))
}

// derive fills the values whose defaults depend on others.
func derive(cfg *Config, hostname func() (string, error)) {
	if cfg.ID == "" {
		h, _ := hostname()
		cfg.ID = idFromHostname(h)
	}
	if cfg.Name == "" {
		cfg.Name = cfg.ID
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = cfg.DerivedBaseURL(cfg.Listen)
	}
}

// idFromHostname lowercases h and replaces every character outside
// [a-z0-9-] with '-'; "neuron" when h is empty.
func idFromHostname(h string) string {
	if h == "" {
		return "neuron"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, strings.ToLower(h))
}

// BaseURLFor returns the URL at which a server listening on addr
// (host:port) is reached: "http://host:port", with "localhost" for an empty
// or unspecified host (0.0.0.0, ::). When Listen has port 0, the agent
// calls it again with the bound address if BaseURL was not set explicitly
// (that is, if BaseURL == BaseURLFor(Listen)).
func BaseURLFor(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://localhost"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
