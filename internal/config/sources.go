package config

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/knadh/koanf/providers/basicflag"
	koanfenv "github.com/knadh/koanf/providers/env/v2" // the tests' lookup helper is env
	"gopkg.in/yaml.v3"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/auth"
	"github.com/empirefederation/neuron/internal/limits"
	"github.com/empirefederation/neuron/internal/spool"
	"github.com/empirefederation/neuron/internal/watch"
)

// Built-in defaults. The id, name and base URL have none: they are derived
// once the other layers are merged (see derive).
const (
	defaultListen            = ":8080"
	defaultPluginsDir        = "./plugins"
	defaultPluginsWatch      = true
	defaultPluginsWatchQuiet = watch.DefaultQuiet
	defaultDataDir           = DefaultDataDir
	defaultLogLevel          = "info"
	defaultShutdownTimeout   = 15 * time.Second
	defaultType              = "wasm-neuron"
	defaultAlertErrorRate    = 5.0    // percent of calls failing
	defaultAlertResponseTime = 2000.0 // milliseconds, average
	defaultAlertHealthScore  = 80.0   // out of 100
)

// DefaultFederationListen is where a development federation listens by
// default: the embedded one (federation.listen, FEDERATION_LISTEN) and
// `neuron federation serve --listen`. Loopback only, as its admin API is for
// the developer at the machine.
const DefaultFederationListen = "127.0.0.1:5000"

// binding ties an environment variable or a flag to a configuration key.
type binding struct {
	name, key, help string
}

// envVars maps each environment variable to its key. It is an explicit
// table, not a prefix transform, so the names in docs/contract hold.
var envVars = []binding{
	{"NEURON_CONFIG", "", "YAML configuration file"},
	{"NEURON_ID", "id", "unique id (default: derived from the hostname)"},
	{"NEURON_NAME", "name", "display name (default: the id)"},
	{"NEURON_LISTEN", "listen", "address to serve on (default " + defaultListen + ")"},
	{"NEURON_BASE_URL", "baseUrl", "URL the federation uses to reach this neuron (default: from the listen address)"},
	{"NEURON_PLUGINS_DIR", "pluginsDir", "directory watched for .wasm processors (default " + defaultPluginsDir + ")"},
	{"NEURON_PLUGINS_WATCH", "pluginsWatch", "load, swap and unload processors as files change in the plugins directory (default true)"},
	{"NEURON_PLUGINS_WATCH_QUIET", "pluginsWatchQuiet", "silence after a change before the plugins directory is synced (default " + defaultPluginsWatchQuiet.String() + ")"},
	{"NEURON_DRAIN_TIMEOUT", "drainTimeout", "bound on a replaced processor version finishing its calls (default 30s)"},
	{"NEURON_KEEP_VERSIONS", "keepVersions", "replaced versions of each processor kept for rollback (default 3)"},
	{"NEURON_REQUEST_BODY_BUDGET", "requestBodyBudget", "bytes of request bodies held at once across all endpoints; more get 503 (default 256 MiB, at least 1 MiB)"},
	{"NEURON_REQUEST_BODY_TIMEOUT", "requestBodyTimeout", "bound on receiving one request body; slower get 408 (default 30s)"},
	{"NEURON_RATE_LIMIT", "rateLimit", "requests per second one client may make to processor endpoints; more get 429 (default 0: unlimited)"},
	{"NEURON_RATE_BURST", "rateBurst", "requests one client may make at once (default 0: one second's worth of NEURON_RATE_LIMIT)"},
	{"NEURON_DATA_DIR", "dataDir", "durable state directory (default " + defaultDataDir + ")"},
	{"LOG_LEVEL", "logLevel", "debug, info, warn or error (default " + defaultLogLevel + ")"},
	{"NEURON_SHUTDOWN_TIMEOUT", "shutdownTimeout", "bound on finishing in-flight calls at shutdown (default 15s)"},
	{"FEDERATION_URL", "federation.url", "federation base URL, \"embedded\", or empty for standalone"},
	{"FEDERATION_LISTEN", "federation.listen", "where the embedded development federation listens (default " + DefaultFederationListen + ")"},
	{"FEDERATION_ADMIN_TOKEN", "federation.adminToken", "the embedded development federation's admin token (default: the one kept in its data directory, generated the first time)"},
	{"FEDERATION_CA", "federation.ca", "PEM bundle of the CAs of the federation's certificate (default: the system's roots)"},
	{"FEDERATION_CLIENT_CERT", "federation.clientCert", "PEM certificate the neuron presents to the federation (with FEDERATION_CLIENT_KEY)"},
	{"FEDERATION_CLIENT_KEY", "federation.clientKey", "PEM private key of FEDERATION_CLIENT_CERT"},
	{"FEDERATION_ALLOW_HTTP", "federation.allowHttp", "allow a plain http:// FEDERATION_URL that is not on loopback (default false)"},
	{"NEURON_TLS_CERT", "tls.cert", "PEM certificate to serve HTTPS with (with NEURON_TLS_KEY; re-read when it changes)"},
	{"NEURON_TLS_KEY", "tls.key", "PEM private key of NEURON_TLS_CERT"},
	{"NEURON_TLS_CLIENT_CA", "tls.clientCA", "PEM bundle of CAs: the update route then requires a client certificate they signed"},
	{"NEURON_HEARTBEAT_INTERVAL", "federation.heartbeatInterval", "heartbeat period (default 60s)"},
	{"NEURON_ANALYTICS_INTERVAL", "federation.analyticsInterval", "analytics report period (default 60s)"},
	{"NEURON_CONFIG_POLL_INTERVAL", "federation.configPollInterval", "config poll period (default 30s)"},
	{"NEURON_SPOOL_MAX_REPORTS", "federation.spoolMaxReports", "analytics reports kept on disk while the federation is away (default 10000)"},
	{"NEURON_SPOOL_MAX_BYTES", "federation.spoolMaxBytes", "bytes of analytics reports kept on disk (default 64 MiB)"},
	{"NEURON_TYPE", "federation.type", "the registration's type (default " + defaultType + ")"},
	{"NEURON_CAPABILITIES", "federation.capabilities", "comma-separated capabilities, added to the processors' own"},
	{"NEURON_METADATA", "federation.metadata", "registration metadata, k=v,k2=v2"},
	{"NEURON_DEPENDENCIES", "dependencies", "probed dependencies, [name=]kind:target;... (kind: tcp, http, postgres, redis)"},
	{"NEURON_MEMORY_LIMIT_PAGES", "limits.memoryPages", "default memory cap per instance, in 64 KiB pages"},
	{"NEURON_CALL_TIMEOUT", "limits.callTimeout", "default bound on one handler call"},
	{"NEURON_MAX_BODY_BYTES", "limits.maxBodyBytes", "default request body limit"},
	{"NEURON_MAX_RESPONSE_BYTES", "limits.maxResponseBytes", "default response body limit"},
	{"NEURON_POOL_MIN", "limits.poolMin", "default instances kept ready per processor"},
	{"NEURON_POOL_MAX", "limits.poolMax", "default instance cap per processor"},
	{"NEURON_POOL_QUEUE", "limits.poolQueue", "default callers that may wait for an instance"},
	{"NEURON_START_TIMEOUT", "limits.startTimeout", "bound on starting an instance (_initialize, probe, self-test) (default " + limits.Default().StartTimeout.String() + ")"},
	{"NEURON_ALLOW_PERMISSIONS", "allowPermissions", "comma-separated: filesystem, environment"},
	{"NEURON_AUTH_MODE", "auth.mode", "callers of processor endpoints: none (default) or jwt"},
	{"NEURON_AUTH_ISSUER", "auth.issuer", "the iss callers' tokens must carry (default: the base URL)"},
	{"NEURON_AUTH_AUDIENCE", "auth.audience", "the aud callers' tokens must carry (default: the neuron id)"},
	{"NEURON_AUTH_SECRET_FILE", "auth.secretFile", "file of the HS256 shared secret (32 bytes or more)"},
	{"NEURON_AUTH_PUBLIC_KEYS", "auth.publicKeys", "comma-separated PEM files of the issuer's public keys (RS256, ES256, EdDSA)"},
	{"NEURON_AUTH_JWKS_URL", "auth.jwksUrl", "URL of the issuer's JWK Set"},
	{"NEURON_PLUGIN_HOSTS", "pluginHosts", "comma-separated hosts (host or host:port) load_plugin may download from, and registries it may pull from; empty: any"},
	{"NEURON_PLUGIN_SOURCES", "pluginSources", "comma-separated processor references in OCI registries (host[:port]/repo:tag or host[:port]/repo@sha256:HEX), pulled before the neuron is ready"},
	{"NEURON_PLUGIN_SOURCES_POLL", "pluginSourcesPoll", "period at which the tags pulled are resolved again, a moved one pulled (default 0: never)"},
	{"NEURON_INSECURE_REGISTRIES", "insecureRegistries", "comma-separated registries (host or host:port) reached over plain HTTP; loopback ones always are"},
	{"NEURON_TRUSTED_KEYS", "trustedKeys", "comma-separated PEM files of Ed25519 public keys; when set, only processors signed by one of them load (neuron plugin sign)"},
}

// flags maps each flag of `neuron run` to its key.
var flags = []binding{
	{"config", "", "read configuration from `FILE` (YAML; env NEURON_CONFIG)"},
	{"listen", "listen", "serve on `ADDR`, host:port (default " + defaultListen + ")"},
	{"base-url", "baseUrl", "`URL` the federation uses to reach this neuron"},
	{"plugins-dir", "pluginsDir", "watch `DIR` for .wasm processors (default " + defaultPluginsDir + ")"},
	{"data-dir", "dataDir", "keep durable state in `DIR` (default " + defaultDataDir + ")"},
	{"log-level", "logLevel", "log `LEVEL`: debug, info, warn or error (default " + defaultLogLevel + ")"},
	{"id", "id", "unique `ID` of this neuron (default: derived from the hostname)"},
	{"name", "name", "display `NAME` (default: the id)"},
	{"tls-cert", "tls.cert", "serve HTTPS with the PEM certificate in `FILE` (with --tls-key)"},
	{"tls-key", "tls.key", "the PEM private key of --tls-cert, in `FILE`"},
	{"federation-url", "federation.url", "federation `URL`, \"embedded\", or \"\" for standalone"},
	{"federation-listen", "federation.listen", "with --federation-url embedded, serve the development federation on `ADDR` (default " + DefaultFederationListen + ")"},
}

// defaultsLayer holds the built-in defaults.
func defaultsLayer() layer {
	return layer{
		raw: map[string]any{
			"listen":             defaultListen,
			"pluginsDir":         defaultPluginsDir,
			"pluginsWatch":       defaultPluginsWatch,
			"pluginsWatchQuiet":  defaultPluginsWatchQuiet,
			"drainTimeout":       limits.DefaultDrainTimeout,
			"keepVersions":       int64(limits.DefaultKeepVersions),
			"requestBodyBudget":  int64(limits.DefaultRequestBodyBudget),
			"requestBodyTimeout": limits.DefaultRequestBodyTimeout,
			"dataDir":            defaultDataDir,
			"logLevel":           defaultLogLevel,
			"shutdownTimeout":    defaultShutdownTimeout,
			"federation": map[string]any{
				"listen":             DefaultFederationListen,
				"heartbeatInterval":  federation.DefaultHeartbeatInterval,
				"analyticsInterval":  federation.DefaultAnalyticsInterval,
				"configPollInterval": federation.DefaultConfigPollInterval,
				"spoolMaxReports":    int64(spool.DefaultMaxItems),
				"spoolMaxBytes":      int64(spool.DefaultMaxBytes),
				"type":               defaultType,
				"alertThresholds": map[string]any{
					"errorRate":    defaultAlertErrorRate,
					"responseTime": defaultAlertResponseTime,
					"healthScore":  defaultAlertHealthScore,
				},
			},
			"limits":    limits.Default().Map(),
			"maxLimits": limits.DefaultMax().Map(),
			"auth":      map[string]any{"mode": AuthNone, "leeway": auth.DefaultLeeway, "tokenTTL": auth.DefaultTokenTTL},
		},
		where: func(string) string { return "defaults" },
	}
}

// envLayer reads the variables of envVars through koanf's env provider,
// which names each by its key and nests the dotted keys. An empty variable
// counts as unset, as container runtimes often pass them empty.
//
// The provider reads an environ list; it is made of lookup over the names
// of envVars (and only those), so that Load's caller decides what the
// environment is (tests never read the process's) and a variable outside
// the table is never seen.
func envLayer(lookup func(string) (string, bool)) layer {
	keys := make(map[string]string, len(envVars)) // variable → key
	for _, b := range envVars {
		keys[b.name] = b.key
	}
	names := map[string]string{} // key → the variable that set it
	p := koanfenv.Provider(".", koanfenv.Opt{
		EnvironFunc: func() []string {
			var environ []string
			for _, b := range envVars {
				if v, ok := lookup(b.name); ok {
					environ = append(environ, b.name+"="+v)
				}
			}
			return environ
		},
		TransformFunc: func(name, v string) (string, any) {
			key := keys[name]
			if key == "" || v == "" { // NEURON_CONFIG (Load reads it), or unset
				return "", nil
			}
			names[key] = name
			return key, v
		},
	})
	raw, _ := p.Read() // never fails: it only splits and nests strings
	return layer{raw: raw, where: func(key string) string { return "env " + names[boundKey(names, key)] }}
}

// boundKey returns the key of names that key is, or lies under
// ("dependencies" for "dependencies[1].kind").
func boundKey(names map[string]string, key string) string {
	for k := range names {
		if key == k || strings.HasPrefix(key, k+".") || strings.HasPrefix(key, k+"[") {
			return k
		}
	}
	return key
}

// flagLayer holds the flags that were set on the command line, even to "",
// read through koanf's basicflag provider (fs is a standard flag.FlagSet,
// as every command of cmd/neuron parses with).
func flagLayer(fs *flag.FlagSet) layer {
	keys, names := map[string]string{}, map[string]string{}
	for _, b := range flags {
		keys[b.name], names[b.key] = b.key, b.name
	}
	// --config has no key (Load reads it): the provider skips a flag
	// whose key is "".
	p := basicflag.ProviderWithValue(fs, ".", func(name, v string) (string, any) { return keys[name], v }, givenOnly{})
	raw, _ := p.Read() // never fails: it only visits fs and nests strings
	return layer{raw: raw, where: func(key string) string { return "flag --" + names[key] }}
}

// givenOnly tells basicflag that every key already has a value, so that it
// merges only the flags given on the command line and never a flag's own
// default: the defaults are the defaults layer's, and a flag's "" default
// must not hide what the file or the environment set.
type givenOnly struct{}

// Exists implements basicflag.KoanfIntf.
func (givenOnly) Exists(string) bool { return true }

// yamlLayer parses a YAML file. Errors in a file name its line.
//
// It decodes through a yaml.Node, not koanf's YAML parser: that parser
// returns a plain map, so the lines of keys, which every error of a file
// names, would be lost, and a top-level list would be Go's "cannot
// unmarshal !!seq into map[string]interface {}" instead of the message
// below.
func yamlLayer(name string, data []byte) (layer, error) {
	l := layer{raw: map[string]any{}, where: func(string) string { return name }}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return l, fmt.Errorf("config: parse %s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return l, nil // empty file
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return l, nil // only comments, or "~"
	}
	if root.Kind != yaml.MappingNode {
		return l, fmt.Errorf("config: %s:%d: want a mapping of keys at the top level", name, root.Line)
	}
	if err := root.Decode(&l.raw); err != nil {
		return l, fmt.Errorf("config: parse %s: %w", name, err)
	}
	lines := map[string]int{}
	indexLines(root, "", lines)
	l.where = func(key string) string {
		for k := key; k != ""; k = parentKey(k) {
			if n, ok := lines[k]; ok {
				return fmt.Sprintf("%s:%d", name, n)
			}
		}
		return name
	}
	return l, nil
}

// indexLines records the line of every mapping key and list item under n:
// "federation.url", "dependencies[1]", "dependencies[1].kind".
func indexLines(n *yaml.Node, prefix string, lines map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := join(prefix, n.Content[i].Value)
			lines[key] = n.Content[i].Line
			indexLines(n.Content[i+1], key, lines)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			key := fmt.Sprintf("%s[%d]", prefix, i)
			lines[key] = item.Line
			indexLines(item, key, lines)
		}
	}
}

// parentKey returns the key that holds key: "a.b" for "a.b.c" and
// "a.b[2]", "" for "a". A missing key is reported at its parent's line.
func parentKey(key string) string {
	if i := strings.LastIndexAny(key, ".["); i > 0 {
		return key[:i]
	}
	return ""
}
