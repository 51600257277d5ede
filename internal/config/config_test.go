package config

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/limits"
)

// env returns a lookup over m, so that tests never read the process env.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func hostID(t *testing.T) string {
	h, _ := os.Hostname()
	return idFromHostname(h)
}

// TestLoad_Precedence checks, for every key that env or flags can set, that
// defaults < file < env < flags.
func TestLoad_Precedence(t *testing.T) {
	tests := []struct {
		key, env, flag         string
		get                    func(*Config) any
		def, file, envV, flagV string // flagV "" when there is no flag
	}{
		{"id", "NEURON_ID", "id", func(c *Config) any { return c.ID }, hostID(t), "file-id", "env-id", "flag-id"},
		{"name", "NEURON_NAME", "name", func(c *Config) any { return c.Name }, hostID(t), "File Neuron", "Env Neuron", "Flag Neuron"},
		{"listen", "NEURON_LISTEN", "listen", func(c *Config) any { return c.Listen }, ":8080", "127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"},
		{"baseUrl", "NEURON_BASE_URL", "base-url", func(c *Config) any { return c.BaseURL }, "http://localhost:8080", "http://file.example:9001", "http://env.example", "https://flag.example"},
		{"pluginsDir", "NEURON_PLUGINS_DIR", "plugins-dir", func(c *Config) any { return c.PluginsDir }, "./plugins", "/file/plugins", "/env/plugins", "/flag/plugins"},
		{"pluginsWatch", "NEURON_PLUGINS_WATCH", "", func(c *Config) any { return fmt.Sprint(c.PluginsWatch) }, "true", "false", "true", ""},
		{"pluginsWatchQuiet", "NEURON_PLUGINS_WATCH_QUIET", "", func(c *Config) any { return c.PluginsWatchQuiet.String() }, "50ms", "250ms", "1s", ""},
		{"drainTimeout", "NEURON_DRAIN_TIMEOUT", "", func(c *Config) any { return c.DrainTimeout.String() }, "30s", "45s", "5s", ""},
		{"keepVersions", "NEURON_KEEP_VERSIONS", "", func(c *Config) any { return fmt.Sprint(c.KeepVersions) }, "3", "5", "7", ""},
		{"requestBodyBudget", "NEURON_REQUEST_BODY_BUDGET", "", func(c *Config) any { return fmt.Sprint(c.RequestBodyBudget) }, "268435456", "2097152", "1048576", ""},
		{"requestBodyTimeout", "NEURON_REQUEST_BODY_TIMEOUT", "", func(c *Config) any { return c.RequestBodyTimeout.String() }, "30s", "45s", "5s", ""},
		{"rateLimit", "NEURON_RATE_LIMIT", "", func(c *Config) any { return fmt.Sprint(c.RateLimit) }, "0", "50", "20.5", ""},
		{"rateBurst", "NEURON_RATE_BURST", "", func(c *Config) any { return fmt.Sprint(c.RateBurst) }, "0", "100", "40", ""},
		{"spoolMaxReports", "NEURON_SPOOL_MAX_REPORTS", "", func(c *Config) any { return fmt.Sprint(c.Federation.SpoolMaxReports) }, "10000", "500", "20", ""},
		{"dataDir", "NEURON_DATA_DIR", "data-dir", func(c *Config) any { return c.DataDir }, "./.neuron", "/file/data", "/env/data", "/flag/data"},
		{"logLevel", "LOG_LEVEL", "log-level", func(c *Config) any { return c.LogLevel }, "info", "warn", "error", "debug"},
		{"federation.url", "FEDERATION_URL", "federation-url", func(c *Config) any { return c.Federation.URL }, "", "https://federation.file:5000", "embedded", "https://fed.example"},
		{"federation.listen", "FEDERATION_LISTEN", "federation-listen", func(c *Config) any { return c.Federation.Listen }, "127.0.0.1:5000", "127.0.0.1:5001", ":5002", "[::1]:5003"},
		{"federation.adminToken", "FEDERATION_ADMIN_TOKEN", "", func(c *Config) any { return c.Federation.AdminToken }, "", "file-token", "env-token", ""},
		{"shutdownTimeout", "NEURON_SHUTDOWN_TIMEOUT", "", func(c *Config) any { return c.ShutdownTimeout.String() }, "15s", "21s", "22s", ""},
		{"heartbeatInterval", "NEURON_HEARTBEAT_INTERVAL", "", func(c *Config) any { return c.Federation.HeartbeatInterval.String() }, "1m0s", "11s", "1m30s", ""},
		{"analyticsInterval", "NEURON_ANALYTICS_INTERVAL", "", func(c *Config) any { return c.Federation.AnalyticsInterval.String() }, "1m0s", "12s", "2m0s", ""},
		{"configPollInterval", "NEURON_CONFIG_POLL_INTERVAL", "", func(c *Config) any { return c.Federation.ConfigPollInterval.String() }, "30s", "13s", "5s", ""},
		{"memoryPages", "NEURON_MEMORY_LIMIT_PAGES", "", func(c *Config) any { return fmt.Sprint(c.Limits.MemoryPages) }, "2048", "101", "16384", ""},
		{"callTimeout", "NEURON_CALL_TIMEOUT", "", func(c *Config) any { return c.Limits.CallTimeout.String() }, "10s", "2s", "3s", ""},
		{"maxBodyBytes", "NEURON_MAX_BODY_BYTES", "", func(c *Config) any { return fmt.Sprint(c.Limits.MaxBodyBytes) }, "4194304", "1001", "2001", ""},
		{"maxResponseBytes", "NEURON_MAX_RESPONSE_BYTES", "", func(c *Config) any { return fmt.Sprint(c.Limits.MaxResponseBytes) }, "8388608", "1002", "2002", ""},
		{"poolMin", "NEURON_POOL_MIN", "", func(c *Config) any { return fmt.Sprint(c.Limits.PoolMin) }, "1", "2", "0", ""},
		{"poolMax", "NEURON_POOL_MAX", "", func(c *Config) any { return fmt.Sprint(c.Limits.PoolMax) }, "8", "6", "7", ""},
		{"poolQueue", "NEURON_POOL_QUEUE", "", func(c *Config) any { return fmt.Sprint(c.Limits.PoolQueue) }, "256", "31", "0", ""},
		{"startTimeout", "NEURON_START_TIMEOUT", "", func(c *Config) any { return c.Limits.StartTimeout.String() }, "5s", "4s", "6s", ""},
		{"allowPermissions", "NEURON_ALLOW_PERMISSIONS", "", func(c *Config) any { return strings.Join(c.AllowPermissions, ",") }, "", "filesystem,environment", "environment", ""},
		{"pluginHosts", "NEURON_PLUGIN_HOSTS", "", func(c *Config) any { return strings.Join(c.PluginHosts, ",") }, "", "plugins.example.com,10.0.0.5:8443", "cdn.example.org", ""},
		{"pluginSources", "NEURON_PLUGIN_SOURCES", "", func(c *Config) any { return strings.Join(c.PluginSources, ",") }, "",
			"registry.example/proc/echo:v1,registry.example:5000/proc/data@sha256:0000000000000000000000000000000000000000000000000000000000000000", "127.0.0.1:5000/echo:v2", ""},
		{"pluginSourcesPoll", "NEURON_PLUGIN_SOURCES_POLL", "", func(c *Config) any { return c.PluginSourcesPoll.String() }, "0s", "5m0s", "30s", ""},
		{"insecureRegistries", "NEURON_INSECURE_REGISTRIES", "", func(c *Config) any { return strings.Join(c.InsecureRegistries, ",") }, "", "registry.example:5000", "10.0.0.7:5000", ""},
		{"federation.type", "NEURON_TYPE", "", func(c *Config) any { return c.Federation.Type }, "wasm-neuron", "file-type", "env-type", ""},
		{"federation.capabilities", "NEURON_CAPABILITIES", "", func(c *Config) any { return strings.Join(c.Federation.Capabilities, ",") }, "", "data_processing,batch.ops-2", "ml,gpu", ""},
		// The env value sets every key the file sets: mappings merge key by key (see TestLoad_MetadataMerges).
		{"federation.metadata", "NEURON_METADATA", "", func(c *Config) any { return pairs(c.Federation.Metadata) }, "", "environment=production,region=us-east-1,zone=3", "environment=staging,region=eu-west-1,team=data,zone=b", ""},
		{"dependencies", "NEURON_DEPENDENCIES", "", func(c *Config) any { return depNames(c.Dependencies) }, "", "db,redis,api,queue,pg-dsn,cache-addr", "cache", ""},
	}
	file := filepath.Join("testdata", "full.yaml")
	for _, tc := range tests {
		stages := []struct {
			name string
			args []string
			env  map[string]string
			want string
		}{
			{"default", nil, nil, tc.def},
			{"file", []string{"--config", file}, nil, tc.file},
			{"env", nil, map[string]string{"NEURON_CONFIG": file, tc.env: envValue(tc.env, tc.envV)}, tc.envV},
			{"flag", []string{"--config", file, "--" + tc.flag, tc.flagV}, map[string]string{tc.env: envValue(tc.env, tc.envV)}, tc.flagV},
		}
		for _, st := range stages {
			if st.name == "flag" && tc.flag == "" {
				continue
			}
			t.Run(tc.key+"/"+st.name, func(t *testing.T) {
				cfg, err := Load(st.args, env(st.env))
				if err != nil {
					t.Fatal(err)
				}
				if got := tc.get(cfg); got != st.want {
					t.Errorf("%s = %q, want %q", tc.key, got, st.want)
				}
			})
		}
	}
}

func TestLoad_File(t *testing.T) {
	cfg, err := Load([]string{"--config", "testdata/full.yaml"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != "testdata/full.yaml" {
		t.Errorf("File = %q", cfg.File)
	}
	if want := map[string]float64{"data-processor": 5, "hello": 0.5}; !maps.Equal(cfg.RateLimits, want) {
		t.Errorf("RateLimits = %v, want %v", cfg.RateLimits, want)
	}
	wantPL := map[string]limits.Limits{
		"data-processor":     {PoolMax: 3, CallTimeout: 500 * time.Millisecond},
		"com.example.dotted": {MemoryPages: 16},
	}
	if !reflect.DeepEqual(cfg.PluginLimits, wantPL) {
		t.Errorf("PluginLimits = %+v, want %+v", cfg.PluginLimits, wantPL)
	}
	wantPlugins := map[string]map[string]any{
		"data-processor": {"dedupe": true, "fields": []any{"id", "email"}, "nested": map[string]any{"a": map[string]any{"b": 1}}, "batchSize": int64(50)},
		"empty-settings": {},
	}
	if !reflect.DeepEqual(cfg.Plugins, wantPlugins) {
		t.Errorf("Plugins = %#v, want %#v", cfg.Plugins, wantPlugins)
	}
	// The runtime's own keys are normalized; others stay as YAML gives them.
	wantSettings := map[string]any{"batchSize": int64(100), "maxRetries": int64(3), "timeoutSeconds": 30.0, "enableDebugMode": false, "customKey": "hello"}
	if !reflect.DeepEqual(cfg.Settings, wantSettings) {
		t.Errorf("Settings = %#v, want %#v", cfg.Settings, wantSettings)
	}
}

// An operator who lowers a maximum below a built-in default gets the
// maximum as the default; a value the operator set is checked instead
// (see TestLoad_Errors, "limits beyond the maximums").
func TestLoad_MaxLimitsLowerTheDefaults(t *testing.T) {
	cfg, err := Load(nil, env(map[string]string{"NEURON_CONFIG": "testdata/maxlow.yaml", "NEURON_POOL_QUEUE": "100"}))
	if err != nil {
		t.Fatal(err)
	}
	want := limits.Default().Override(limits.Limits{PoolMax: 4, CallTimeout: 3 * time.Second, PoolQueue: 100})
	if cfg.Limits != want {
		t.Errorf("Limits = %+v, want %+v", cfg.Limits, want)
	}
	wantMax := limits.DefaultMax().Override(limits.Limits{PoolMax: 4, CallTimeout: 3 * time.Second, PoolQueue: 100})
	if cfg.MaxLimits != wantMax {
		t.Errorf("MaxLimits = %+v, want %+v", cfg.MaxLimits, wantMax)
	}
}

func TestLoad_Defaults(t *testing.T) {
	cfg, err := Load(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits != limits.Default() {
		t.Errorf("Limits = %+v, want %+v", cfg.Limits, limits.Default())
	}
	if cfg.File != "" || cfg.Settings != nil || cfg.Plugins != nil || cfg.PluginLimits != nil || cfg.Dependencies != nil || cfg.BuildVersion != "" {
		t.Errorf("unexpected content: %+v", cfg)
	}
	for _, name := range []string{"empty.yaml"} {
		c2, err := Load([]string{"--config", filepath.Join("testdata", name)}, env(nil))
		if err != nil {
			t.Fatal(err)
		}
		c2.File = ""
		if !reflect.DeepEqual(c2, cfg) {
			t.Errorf("%s: %+v, want defaults %+v", name, c2, cfg)
		}
	}
}

func TestLoad_EmptyEnvIsUnset_EmptyFlagOverrides(t *testing.T) {
	file := "testdata/full.yaml"
	cfg, err := Load(nil, env(map[string]string{"NEURON_CONFIG": file, "FEDERATION_URL": ""}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Federation.URL != "https://federation.file:5000" {
		t.Errorf("empty env overrode the file: %q", cfg.Federation.URL)
	}
	cfg, err = Load([]string{"--federation-url="}, env(map[string]string{"NEURON_CONFIG": file}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Federation.URL != "" {
		t.Errorf("empty flag did not override: %q", cfg.Federation.URL)
	}
}

func TestLoad_Example(t *testing.T) {
	cfg, err := Load([]string{"--config", "../../deploy/neuron.example.yaml"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Settings) == 0 || len(cfg.Plugins) == 0 || len(cfg.PluginLimits) == 0 ||
		len(cfg.Federation.Metadata) == 0 || cfg.Federation.AlertThresholds == (AlertThresholds{}) {
		t.Errorf("example misses sections: %+v", cfg)
	}
	// The dependencies are commented out, so that the example runs as it
	// is; uncommented, they must load too.
	data, err := os.ReadFile("../../deploy/neuron.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		in = line == "# dependencies:" || in && strings.HasPrefix(line, "#   ")
		if in {
			line = strings.TrimPrefix(line, "# ")
		}
		lines = append(lines, line)
	}
	cfg, err = Load([]string{"--config", writeYAML(t, strings.Join(lines, "\n"))}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := depNames(cfg.Dependencies); got != "db,cache,billing-api,queue" {
		t.Errorf("uncommented example dependencies = %q", got)
	}
}

func TestLoad_Errors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantErrs []string // each a substring of the error
	}{
		{name: "missing file", args: []string{"--config", "testdata/nope.yaml"},
			wantErrs: []string{"config: read file: open testdata/nope.yaml"}},
		{name: "missing file from env", env: map[string]string{"NEURON_CONFIG": "testdata/nope.yaml"},
			wantErrs: []string{"testdata/nope.yaml"}},
		{name: "duplicate key", args: []string{"--config", "testdata/badyaml.yaml"},
			wantErrs: []string{"config: parse testdata/badyaml.yaml: yaml: unmarshal errors:\n  line 2: mapping key \"listen\" already defined"}},
		{name: "top level list", args: []string{"--config", "testdata/toplist.yaml"},
			wantErrs: []string{"config: testdata/toplist.yaml:1: want a mapping"}},
		{name: "unknown keys", args: []string{"--config", "testdata/unknown.yaml"}, wantErrs: []string{
			`config: unknown key "listn" in testdata/unknown.yaml:1 (did you mean "listen"?)`,
			`config: unknown key "federation.urll" in testdata/unknown.yaml:3 (did you mean "federation.url"?)`,
			`config: unknown key "limits.poolMaxx" in testdata/unknown.yaml:5 (did you mean "limits.poolMax"?)`,
			`config: unknown key "pluginLimits.data-processor.timeout" in testdata/unknown.yaml:8`,
		}},
		{name: "bad values in file", args: []string{"--config", "testdata/badvalues.yaml"}, wantErrs: []string{
			`config: id in testdata/badvalues.yaml:1: invalid id "not an id"`,
			`config: listen in testdata/badvalues.yaml:2: invalid listen address "localhost"`,
			`config: baseUrl in testdata/badvalues.yaml:3: invalid url "ftp://x"`,
			`config: logLevel in testdata/badvalues.yaml:4: unknown log level "verbose"`,
			`config: shutdownTimeout in testdata/badvalues.yaml:5: must not be negative`,
			`config: federation.url in testdata/badvalues.yaml:7: invalid url "federation.local:5000"`,
			`config: federation.heartbeatInterval in testdata/badvalues.yaml:8: must be positive`,
			`config: federation.analyticsInterval in testdata/badvalues.yaml:9: invalid duration "soon"`,
			`config: federation.configPollInterval in testdata/badvalues.yaml:10: invalid duration 30: needs a unit`,
			`config: limits.memoryPages in testdata/badvalues.yaml:12: must be at most 65536, got 70000`,
			`config: limits.callTimeout in testdata/badvalues.yaml:13: invalid duration 5`,
			`config: limits.maxBodyBytes in testdata/badvalues.yaml:14: must not be negative`,
			`config: limits.maxResponseBytes in testdata/badvalues.yaml:15: must be a whole number, got 1.5`,
			`config: limits.poolQueue in testdata/badvalues.yaml:18: must be a whole number, got "many"`,
			`config: poolMin 9 (limits.poolMin in testdata/badvalues.yaml:16) exceeds poolMax 4 (limits.poolMax in testdata/badvalues.yaml:17)`,
			`config: poolMin 5 (pluginLimits.data-processor.poolMin in testdata/badvalues.yaml:21) exceeds poolMax 4 (limits.poolMax in testdata/badvalues.yaml:17)`,
			`config: pluginLimits.other in testdata/badvalues.yaml:22: must be a mapping, not a list`,
			`config: plugins.data-processor in testdata/badvalues.yaml:24: must be a mapping, not a string`,
			`config: settings in testdata/badvalues.yaml:25: must be a mapping, not a list`,
			`config: allowPermissions in testdata/badvalues.yaml:26: unknown permission "network"`,
		}},
		{name: "bad env", env: map[string]string{
			"NEURON_LISTEN": ":http", "LOG_LEVEL": "loud", "FEDERATION_URL": "embeded",
			"NEURON_HEARTBEAT_INTERVAL": "-5s", "NEURON_CALL_TIMEOUT": "0", "NEURON_POOL_MIN": "-1",
			"NEURON_MEMORY_LIMIT_PAGES": "65537", "NEURON_ALLOW_PERMISSIONS": "filesystem,root",
			"NEURON_MAX_BODY_BYTES": "4MiB", "NEURON_BASE_URL": "localhost:8080",
			"NEURON_PLUGINS_WATCH": "sometimes", "NEURON_PLUGINS_WATCH_QUIET": "0s",
			"FEDERATION_LISTEN": "5000", "NEURON_PLUGIN_HOSTS": "plugins.example.com,https://cdn.example.org/x",
			"NEURON_PLUGIN_SOURCES": "registry.example/echo:v1,registry.example/echo", "NEURON_PLUGIN_SOURCES_POLL": "-1m",
		}, wantErrs: []string{
			`config: pluginSources in env NEURON_PLUGIN_SOURCES: reference "registry.example/echo": no tag or digest; want host[:port]/repo:tag or host[:port]/repo@sha256:HEX`,
			`config: pluginSourcesPoll in env NEURON_PLUGIN_SOURCES_POLL: must not be negative`,
			`config: pluginsWatch in env NEURON_PLUGINS_WATCH: must be true or false, got "sometimes"`,
			`config: pluginsWatchQuiet in env NEURON_PLUGINS_WATCH_QUIET: must be positive`,
			`config: listen in env NEURON_LISTEN: invalid port in listen address ":http"`,
			`config: logLevel in env LOG_LEVEL: unknown log level "loud"`,
			`config: federation.url in env FEDERATION_URL: invalid url "embeded"`,
			`config: federation.listen in env FEDERATION_LISTEN: invalid listen address "5000"`,
			`config: federation.heartbeatInterval in env NEURON_HEARTBEAT_INTERVAL: must not be negative`,
			`config: limits.callTimeout in env NEURON_CALL_TIMEOUT: must be positive`,
			`config: limits.poolMin in env NEURON_POOL_MIN: must not be negative`,
			`config: limits.memoryPages in env NEURON_MEMORY_LIMIT_PAGES: must be at most 65536`,
			`config: allowPermissions in env NEURON_ALLOW_PERMISSIONS: unknown permission "root"`,
			`config: pluginHosts in env NEURON_PLUGIN_HOSTS: host "https://cdn.example.org/x": want a host name or IP address, optionally with :port (no scheme or path)`,
			`config: limits.maxBodyBytes in env NEURON_MAX_BODY_BYTES: must be a whole number, got "4MiB"`,
			`config: baseUrl in env NEURON_BASE_URL: invalid url "localhost:8080"`,
		}},
		{name: "limits beyond the maximums", args: []string{"--config", "testdata/maxlimits.yaml"}, wantErrs: []string{
			`config: maxLimits.poolMax in testdata/maxlimits.yaml:2: must be at most 1024, got 2000`,
			`config: maxLimits.callTimeout in testdata/maxlimits.yaml:3: must be at most 1h0m0s, got 2h0m0s`,
			`config: limits.memoryPages 2048 in testdata/maxlimits.yaml:6 is above maxLimits.memoryPages 1024 (in testdata/maxlimits.yaml:4): lower it or raise maxLimits.memoryPages`,
			`config: pluginLimits.big.poolMax in testdata/maxlimits.yaml:9: must be at most 1024, got 40000`,
			`config: pluginLimits.wide.poolQueue 5000 in testdata/maxlimits.yaml:11 is above maxLimits.poolQueue 4096 (in defaults): lower it or raise maxLimits.poolQueue`,
		}},
		{name: "maximums not positive", env: map[string]string{"NEURON_CONFIG": "testdata/maxzero.yaml"}, wantErrs: []string{
			`config: maxLimits.poolMax in testdata/maxzero.yaml:2: must be positive`,
		}},
		{name: "pool across layers", args: []string{"--config", "testdata/full.yaml"}, env: map[string]string{"NEURON_POOL_MIN": "7"},
			wantErrs: []string{`config: poolMin 7 (limits.poolMin in env NEURON_POOL_MIN) exceeds poolMax 6 (limits.poolMax in testdata/full.yaml:34)`}},
		{name: "pool against defaults", env: map[string]string{"NEURON_POOL_MAX": "0"},
			wantErrs: []string{`config: limits.poolMax in env NEURON_POOL_MAX: must be positive`}},
		{name: "bad flags", args: []string{"--listen", "nohost", "--log-level", "trace", "--federation-url", "ws://x", "--id", "a/b"}, wantErrs: []string{
			`config: listen in flag --listen: invalid listen address "nohost"`,
			`config: logLevel in flag --log-level: unknown log level "trace"`,
			`config: federation.url in flag --federation-url: invalid url "ws://x"`,
			`config: id in flag --id: invalid id "a/b"`,
		}},
		{name: "empty required flag", args: []string{"--plugins-dir="},
			wantErrs: []string{"config: pluginsDir in flag --plugins-dir: must not be empty"}},
		{name: "file and env problems together", args: []string{"--config", "testdata/unknown.yaml"}, env: map[string]string{"LOG_LEVEL": "x"},
			wantErrs: []string{`unknown key "listn"`, `logLevel in env LOG_LEVEL`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(tc.args, env(tc.env))
			if err == nil {
				t.Fatalf("no error, config %+v", cfg)
			}
			for _, want := range tc.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q; got:\n%v", want, err)
				}
			}
			if n := strings.Count(err.Error(), "config: "); n < len(tc.wantErrs) {
				t.Errorf("%d errors, want at least %d:\n%v", n, len(tc.wantErrs), err)
			}
			var ue *UsageError
			if errors.As(err, &ue) {
				t.Errorf("config problem reported as usage error: %v", err)
			}
		})
	}
}

func TestLoad_UsageErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantHelp bool
	}{
		{"unknown flag", []string{"--nope"}, false},
		{"positional", []string{"extra"}, false},
		{"help", []string{"-h"}, true},
		{"long help", []string{"--help"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.args, env(nil))
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("want *UsageError, got %v", err)
			}
			if got := errors.Is(err, flag.ErrHelp); got != tc.wantHelp {
				t.Errorf("errors.Is(err, flag.ErrHelp) = %v", got)
			}
		})
	}
}

// pinnedSettings names settings keys, processors' keys and all of a
// processor's keys; anything else is refused with the forms it takes.
func TestLoad_PinnedSettings(t *testing.T) {
	cfg, err := Load([]string{"--config", writeYAML(t, "pinnedSettings: [timeoutSeconds, plugins.hello.greeting, plugins.data.proc.*, timeoutSeconds]\n")}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.PinnedSettings, " "); got != "timeoutSeconds plugins.hello.greeting plugins.data.proc.*" {
		t.Errorf("pinnedSettings = %q", got)
	}
	for _, bad := range []string{"plugins.hello", "plugins.hello.", "plugins..x", "plugins", "*"} {
		_, err := Load([]string{"--config", writeYAML(t, "pinnedSettings: ['"+bad+"']\n")}, env(nil))
		if err == nil || !strings.Contains(err.Error(), "pinned setting \""+bad+"\"") {
			t.Errorf("pinnedSettings [%s]: %v, want it refused by name", bad, err)
		}
	}
}
