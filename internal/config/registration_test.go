package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/probe"
)

// pairs formats m as sorted k=v items joined with ',', as NEURON_METADATA
// takes them.
func pairs(m map[string]string) string {
	items := make([]string, 0, len(m))
	for k, v := range m {
		items = append(items, k+"="+v)
	}
	sort.Strings(items)
	return strings.Join(items, ",")
}

func depNames(deps []probe.Dependency) string {
	names := make([]string, len(deps))
	for i, d := range deps {
		names[i] = d.Name
	}
	return strings.Join(names, ",")
}

// envValue is what TestLoad_Precedence sets the variable to for a row that
// wants want: want itself, except for NEURON_DEPENDENCIES, whose rows want
// the dependency names.
func envValue(name, want string) string {
	if name != "NEURON_DEPENDENCIES" {
		return want
	}
	var items []string
	for _, n := range strings.Split(want, ",") {
		items = append(items, n+"=tcp:127.0.0.1:1")
	}
	return strings.Join(items, ";")
}

// writeYAML writes content to a file in a fresh directory and returns its
// path.
func writeYAML(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "neuron.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad_RegistrationFromFile(t *testing.T) {
	cfg, err := Load([]string{"--config", "testdata/full.yaml"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Federation
	want := Federation{
		URL: f.URL, Listen: "127.0.0.1:5001", AdminToken: "file-token", HeartbeatInterval: f.HeartbeatInterval, AnalyticsInterval: f.AnalyticsInterval, ConfigPollInterval: f.ConfigPollInterval,
		SpoolMaxReports: 500, SpoolMaxBytes: 1 << 20,
		Type:                 "file-type",
		Capabilities:         []string{"data_processing", "batch.ops-2"},
		Metadata:             map[string]string{"environment": "production", "region": "us-east-1", "zone": "3"},
		ResourceRequirements: ResourceRequirements{CPU: "2 cores", Memory: "4GB", Storage: "10GB"},
		DeploymentInfo:       DeploymentInfo{Type: "container", Image: "mycompany/data-processor:1.2.0", Ports: []int{8080, 9090}},
		AlertThresholds:      AlertThresholds{ErrorRate: 2.5, ResponseTime: 1500, HealthScore: 70},
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("Federation =\n%+v, want\n%+v", f, want)
	}
	wantDeps := []probe.Dependency{
		{Name: "db", Kind: "postgres", Target: "postgres://neuron:secret@127.0.0.1:5432/app?sslmode=disable", Interval: 30 * time.Second, Timeout: 5 * time.Second},
		{Name: "redis", Kind: "redis", Target: "redis://127.0.0.1:6379/0", Interval: 15 * time.Second, Timeout: 3 * time.Second, Optional: true},
		{Name: "api", Kind: "http", Target: "https://api.example/health", Interval: 2 * time.Second, Timeout: time.Second},
		{Name: "queue", Kind: "tcp", Target: "127.0.0.1:5672", Interval: 15 * time.Second, Timeout: 3 * time.Second},
		{Name: "pg-dsn", Kind: "postgres", Target: "host=127.0.0.1 port=5432 dbname=app", Interval: 15 * time.Second, Timeout: 3 * time.Second},
		{Name: "cache-addr", Kind: "redis", Target: "[::1]:6379", Interval: 15 * time.Second, Timeout: 3 * time.Second},
	}
	if !reflect.DeepEqual(cfg.Dependencies, wantDeps) {
		t.Errorf("Dependencies =\n%+v, want\n%+v", cfg.Dependencies, wantDeps)
	}
}

func TestLoad_RegistrationDefaults(t *testing.T) {
	cfg, err := Load(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Federation{
		Listen:            "127.0.0.1:5000",
		HeartbeatInterval: time.Minute, AnalyticsInterval: time.Minute, ConfigPollInterval: 30 * time.Second,
		SpoolMaxReports: 10000, SpoolMaxBytes: 64 << 20,
		Type:            "wasm-neuron",
		AlertThresholds: AlertThresholds{ErrorRate: 5, ResponseTime: 2000, HealthScore: 80},
	}
	if !reflect.DeepEqual(cfg.Federation, want) {
		t.Errorf("Federation = %+v, want %+v", cfg.Federation, want)
	}
}

// TestLoad_MetadataMerges: mappings merge key by key across layers, lists
// replace whole.
func TestLoad_MetadataMerges(t *testing.T) {
	cfg, err := Load([]string{"--config", "testdata/full.yaml"}, env(map[string]string{
		"NEURON_METADATA":     " region = eu-west-1 , team=a=b ,",
		"NEURON_CAPABILITIES": "ml",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pairs(cfg.Federation.Metadata), "environment=production,region=eu-west-1,team=a=b,zone=3"; got != want {
		t.Errorf("Metadata = %s, want %s", got, want)
	}
	if got := strings.Join(cfg.Federation.Capabilities, ","); got != "ml" {
		t.Errorf("Capabilities = %s, want ml (the env list replaces the file's)", got)
	}
}

func TestLoad_Dependencies(t *testing.T) {
	tcp := func(name, target string) probe.Dependency {
		return probe.Dependency{Name: name, Kind: "tcp", Target: target, Interval: 15 * time.Second, Timeout: 3 * time.Second}
	}
	tests := []struct {
		name string
		yaml string // "" reads no file
		env  string // NEURON_DEPENDENCIES
		want []probe.Dependency
	}{
		{name: "env, named and not",
			env: "db=postgres:postgres://u:p@h:5432/db?x=1;cache=redis:redis://127.0.0.1:6379; redis:127.0.0.1:6380 ;pg=postgres:host=h port=5432",
			want: []probe.Dependency{
				{Name: "db", Kind: "postgres", Target: "postgres://u:p@h:5432/db?x=1", Interval: 15 * time.Second, Timeout: 3 * time.Second},
				{Name: "cache", Kind: "redis", Target: "redis://127.0.0.1:6379", Interval: 15 * time.Second, Timeout: 3 * time.Second},
				{Name: "redis", Kind: "redis", Target: "127.0.0.1:6380", Interval: 15 * time.Second, Timeout: 3 * time.Second},
				{Name: "pg", Kind: "postgres", Target: "host=h port=5432", Interval: 15 * time.Second, Timeout: 3 * time.Second},
			}},
		{name: "env replaces the file's list", yaml: "dependencies: [{kind: tcp, target: 'a:1'}, {kind: http, target: 'http://b'}]",
			env: "c=tcp:c:3", want: []probe.Dependency{tcp("c", "c:3")}},
		{name: "env empty items", env: " ; ;", want: []probe.Dependency{}},
		{name: "short interval halves the default timeout",
			yaml: "dependencies:\n  - {kind: tcp, target: 'h:1', interval: 1s}\n  - {kind: tcp, name: b, target: 'h:2', interval: 10ms}",
			want: []probe.Dependency{
				{Name: "tcp", Kind: "tcp", Target: "h:1", Interval: time.Second, Timeout: 500 * time.Millisecond},
				{Name: "b", Kind: "tcp", Target: "h:2", Interval: 10 * time.Millisecond, Timeout: 5 * time.Millisecond},
			}},
		{name: "http and https, any case kind",
			yaml: "dependencies:\n  - {kind: HTTP, target: 'http://127.0.0.1:8080/health'}\n  - {name: s, kind: http, target: 'HTTPS://x.example'}",
			want: []probe.Dependency{
				{Name: "http", Kind: "http", Target: "http://127.0.0.1:8080/health", Interval: 15 * time.Second, Timeout: 3 * time.Second},
				{Name: "s", Kind: "http", Target: "HTTPS://x.example", Interval: 15 * time.Second, Timeout: 3 * time.Second},
			}},
		{name: "empty list", yaml: "dependencies: []", want: []probe.Dependency{}},
		{name: "no value", yaml: "dependencies:", want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			if tc.yaml != "" {
				args = []string{"--config", writeYAML(t, tc.yaml)}
			}
			cfg, err := Load(args, env(map[string]string{"NEURON_DEPENDENCIES": tc.env}))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Dependencies, tc.want) {
				t.Errorf("Dependencies =\n%#v, want\n%#v", cfg.Dependencies, tc.want)
			}
		})
	}
}

func TestLoad_RegistrationErrors(t *testing.T) {
	f := "testdata/badregistration.yaml"
	tests := []struct {
		name     string
		yaml     string // written to a file, when set
		args     []string
		env      map[string]string
		wantErrs []string
	}{
		{name: "bad values in file", args: []string{"--config", f}, wantErrs: []string{
			`config: federation.type in ` + f + `:2: invalid type "wasm neuron"`,
			`config: federation.capabilities in ` + f + `:3: invalid capability "Batch Operations"`,
			`config: federation.metadata.region in ` + f + `:5: must be a string, not a list`,
			`config: federation.resourceRequirements.cpu in ` + f + `:7: must be a string, not a mapping`,
			`config: federation.deploymentInfo.ports in ` + f + `:9: must be from 1 to 65535, got 0; must be at most 65535, got 70000; must be a whole number, got "http"`,
			`config: federation.alertThresholds.errorRate in ` + f + `:11: must be more than 0 and at most 100, got 0`,
			`config: federation.alertThresholds.responseTime in ` + f + `:12: must be more than 0, got -1`,
			`config: federation.alertThresholds.healthScore in ` + f + `:13: must be from 0 to 100, got 101`,
			`config: settings.batchSize in ` + f + `:15: must be at least 1, got 0`,
			`config: settings.maxRetries in ` + f + `:16: must be at least 0, got -1`,
			`config: settings.timeoutSeconds in ` + f + `:17: must be more than 0 and at most 3600, got 3601 (seconds)`,
			`config: settings.enableDebugMode in ` + f + `:18: must be true or false, not a string`,
			`config: plugins.data-processor.timeoutSeconds in ` + f + `:22: must be more than 0 and at most 3600, got 0`,
			`config: dependencies[0].name in ` + f + `:24: invalid name "bad name"`,
			`config: dependencies[0].kind in ` + f + `:25: unknown kind "smtp", want tcp, http, postgres or redis`,
			`config: dependencies[1].target in ` + f + `:28: want host:port such as db.internal:5432: missing port in address`,
			`config: dependencies[2].target in ` + f + `:30: want an http:// or https:// URL such as http://search.internal:9200/_cluster/health: URL scheme "ftp" is not http or https`,
			`config: dependencies[3].target in ` + f + `:32: want a URL such as postgres://user:password@db.internal:5432/app?sslmode=disable or a DSN such as "host=db.internal user=app dbname=app": URL scheme "mysql" is not postgres or postgresql`,
			`config: dependencies[4].target in ` + f + `:34: want redis://[:password@]host:port[/db] (rediss:// for TLS) or host:port, such as redis://cache.internal:6379/0: the URL has no host`,
			`config: dependencies[5].timeout in ` + f + `:38: must be shorter than the interval (2s), got 2s`,
			`config: dependencies[6].kind in ` + f + `:39: required: tcp, http, postgres or redis`,
			`config: dependencies[7] in ` + f + `:40: empty item`,
			`config: unknown key "dependencies[8].targt" in ` + f + `:42 (did you mean "dependencies[8].target"?)`,
			`config: dependencies[9] in ` + f + `:43: must be a mapping, not a string`,
			`config: dependencies[10].optional in ` + f + `:46: must be true or false, got "maybe"`,
		}},
		{name: "bad env", env: map[string]string{
			"NEURON_TYPE": "a/b", "NEURON_CAPABILITIES": "ok,Not-OK", "NEURON_METADATA": "a=b,novalue",
			"NEURON_DEPENDENCIES": "a=tcp:h:1;a=redis:redis://u:secret@h:1;redis:127.0.0.1:6379;redis:127.0.0.1:6380",
		}, wantErrs: []string{
			`config: federation.type in env NEURON_TYPE: invalid type "a/b"`,
			`config: federation.capabilities in env NEURON_CAPABILITIES: invalid capability "Not-OK"`,
			`config: federation.metadata in env NEURON_METADATA: item 2 ("novalue"): want key=value`,
			`config: dependencies[1].name in env NEURON_DEPENDENCIES: "a" is already the name of dependencies[0]`,
			`config: dependencies[3].name in env NEURON_DEPENDENCIES: "redis" is already the name of dependencies[2]`,
		}},
		{name: "env dependency syntax", env: map[string]string{"NEURON_DEPENDENCIES": "db=postgres:x;just-a-name"},
			wantErrs: []string{`config: dependencies in env NEURON_DEPENDENCIES: item 2: want [name=]kind:target, items separated by ';'`}},
		{name: "env dependency values", env: map[string]string{"NEURON_DEPENDENCIES": "db=pg:x;a b=tcp:h:1;web=http:localhost:80;t=tcp:h:0"},
			wantErrs: []string{
				`config: dependencies[0].kind in env NEURON_DEPENDENCIES: unknown kind "pg"`,
				`config: dependencies[1].name in env NEURON_DEPENDENCIES: invalid name "a b"`,
				`config: dependencies[2].target in env NEURON_DEPENDENCIES: want an http:// or https:// URL such as http://search.internal:9200/_cluster/health: URL scheme "localhost" is not http or https`,
				`config: dependencies[3].target in env NEURON_DEPENDENCIES: want host:port such as db.internal:5432: port "0" is not a number from 1 to 65535`,
			}},
		{name: "targets", yaml: `dependencies:
  - {kind: postgres, target: "not a dsn"}
  - {name: a, kind: postgres, target: "postgres://u:p@[::1"}
  - {name: b, kind: redis, target: "memcached://h:1"}
  - {name: c, kind: http, target: "http://"}
  - {name: d, kind: tcp, target: ":80"}
  - {name: e, kind: tcp, target: "h:1", interval: 5ms}
  - {name: f, kind: tcp, target: "h:1", interval: 10s, timeout: 0s}
  - {name: g, kind: tcp, target: "h:1", interval: 1s, timeout: 2s}
`, wantErrs: []string{
			`dependencies[0].target in %s:2: want a URL such as postgres://user:password@db.internal:5432/app?sslmode=disable or a DSN such as "host=db.internal user=app dbname=app": failed to parse as keyword/value (invalid keyword/value)`,
			`dependencies[1].target in %s:3: want a URL such as postgres://user:password@db.internal:5432/app?sslmode=disable or a DSN such as "host=db.internal user=app dbname=app": failed to parse as URL (end of string reached when looking for matching "]" in IPv6 host address in URI)`,
			`dependencies[2].target in %s:4: want redis://[:password@]host:port[/db] (rediss:// for TLS) or host:port, such as redis://cache.internal:6379/0: URL scheme "memcached" is not redis or rediss`,
			`dependencies[3].target in %s:5: want an http:// or https:// URL such as http://search.internal:9200/_cluster/health: the URL has no host`,
			`dependencies[4].target in %s:6: want host:port such as db.internal:5432: the host is empty`,
			`dependencies[5].interval in %s:7: must be at least 10ms, got 5ms`,
			`dependencies[6].timeout in %s:8: must be positive`,
			`dependencies[7].timeout in %s:9: must be shorter than the interval (1s), got 2s`,
		}},
		{name: "duplicates by default name", yaml: "dependencies:\n  - {kind: redis, target: 'h:1'}\n  - {kind: redis, target: 'h:2'}\n",
			wantErrs: []string{`config: dependencies[1].name in %s:3: "redis" is already the name of dependencies[0]`}},
		{name: "shapes", yaml: "dependencies: {db: x}\nfederation:\n  metadata: [a]\n  deploymentInfo: {ports: 80}\n  alertThresholds: {errorRate: high, healthScore: .nan}\n",
			wantErrs: []string{
				`config: dependencies in %s:1: must be a list, not a mapping`,
				`config: federation.metadata in %s:3: must be a mapping, not a list`,
				`config: federation.deploymentInfo.ports in %s:4: must be a list of whole numbers, not a number`,
				`config: federation.alertThresholds.errorRate in %s:5: must be a number, got "high"`,
				`config: federation.alertThresholds.healthScore in %s:5: must be a finite number, got NaN`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.yaml != "" {
				p := writeYAML(t, tc.yaml)
				args = []string{"--config", p}
				for i, w := range tc.wantErrs {
					tc.wantErrs[i] = strings.ReplaceAll(w, "%s", p)
				}
			}
			cfg, err := Load(args, env(tc.env))
			if err == nil {
				t.Fatalf("no error, config %+v", cfg)
			}
			for _, want := range tc.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q; got:\n%v", want, err)
				}
			}
			if n := strings.Count(err.Error(), "config: "); n != len(tc.wantErrs) {
				t.Errorf("%d errors, want %d:\n%v", n, len(tc.wantErrs), err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows a password:\n%v", err)
			}
		})
	}
}

func TestRuntimeSetting(t *testing.T) {
	tests := []struct {
		key     string
		in      any
		want    any
		wantOK  bool
		wantErr string
	}{
		{"batchSize", 100, int64(100), true, ""},
		{"batchSize", int64(1), int64(1), true, ""},
		{"batchSize", uint64(7), int64(7), true, ""},
		{"batchSize", 1000.0, int64(1000), true, ""},
		{"batchSize", json.Number("1500"), int64(1500), true, ""},
		{"batchSize", json.Number("2e3"), int64(2000), true, ""},
		{"batchSize", 0, nil, true, "must be at least 1, got 0"},
		{"batchSize", json.Number("-5"), nil, true, "must be at least 1, got -5"},
		{"batchSize", 1.5, nil, true, "must be a whole number, got 1.5"},
		{"batchSize", json.Number("1.5"), nil, true, "must be a whole number, got 1.5"},
		{"batchSize", "100", nil, true, "must be a whole number, not a string"},
		{"batchSize", nil, nil, true, "must be a whole number, not null"},
		{"batchSize", uint64(1 << 63), nil, true, "must be at most 9223372036854775807"},
		{"maxRetries", 0, int64(0), true, ""},
		{"maxRetries", json.Number("3"), int64(3), true, ""},
		{"maxRetries", -1, nil, true, "must be at least 0, got -1"},
		{"maxRetries", true, nil, true, "must be a whole number, not a boolean"},
		{"timeoutSeconds", 30, 30.0, true, ""},
		{"timeoutSeconds", 0.5, 0.5, true, ""},
		{"timeoutSeconds", json.Number("3600"), 3600.0, true, ""},
		{"timeoutSeconds", int64(3600), 3600.0, true, ""},
		{"timeoutSeconds", 0, nil, true, "must be more than 0 and at most 3600, got 0 (seconds)"},
		{"timeoutSeconds", json.Number("3600.5"), nil, true, "must be more than 0 and at most 3600, got 3600.5 (seconds)"},
		{"timeoutSeconds", -1.0, nil, true, "must be more than 0 and at most 3600, got -1"},
		{"timeoutSeconds", "30", nil, true, "must be a number, not a string"},
		{"timeoutSeconds", map[string]any{}, nil, true, "must be a number, not a mapping"},
		{"enableDebugMode", true, true, true, ""},
		{"enableDebugMode", false, false, true, ""},
		{"enableDebugMode", "true", nil, true, "must be true or false, not a string"},
		{"enableDebugMode", json.Number("1"), nil, true, "must be true or false, not a number"},
		{"rateLimit", 0, 0.0, true, ""},
		{"rateLimit", json.Number("20.5"), 20.5, true, ""},
		{"rateLimit", -1, nil, true, "must be from 0 to 1e+06, got -1 (requests per second; 0 is unlimited)"},
		{"rateLimit", "20", nil, true, "must be a number, not a string"},
		{"rateBurst", json.Number("40"), int64(40), true, ""},
		{"rateBurst", 2e6, nil, true, "must be from 0 (one second's worth of rateLimit) to 1000000, got 2000000"},
		{"rateBurst", 1.5, nil, true, "must be a whole number, got 1.5"},
		{"rateLimits.hello", json.Number("0.5"), 0.5, true, ""},
		{"rateLimits.hello", -2, nil, true, "must be from 0 to 1e+06, got -2 (requests per second the processor takes from all callers; 0 is unlimited)"},
		{"rateLimits.", 5, nil, true, "name a processor: rateLimits.NAME"},
		{"rateLimits", map[string]any{"hello": 5}, nil, true, "set one processor's rate as rateLimits.NAME"},
		{"customKey", "anything", "anything", false, ""},
		{"BatchSize", 0, 0, false, ""}, // keys are case-sensitive
	}
	for _, tc := range tests {
		got, ok, err := RuntimeSetting(tc.key, tc.in)
		name := fmt.Sprintf("%s(%#v)", tc.key, tc.in)
		if ok != tc.wantOK {
			t.Errorf("%s: ok = %v, want %v", name, ok, tc.wantOK)
		}
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error %v", name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want %q", name, err, tc.wantErr)
		case !reflect.DeepEqual(got, tc.want):
			t.Errorf("%s: got %#v, want %#v", name, got, tc.want)
		}
	}
}

func TestParentKey(t *testing.T) {
	tests := []struct{ key, want string }{
		{"a", ""},
		{"a.b", "a"},
		{"dependencies[2]", "dependencies"},
		{"dependencies[2].kind", "dependencies[2]"},
		{"plugins.com.example.x", "plugins.com.example"},
	}
	for _, tc := range tests {
		if got := parentKey(tc.key); got != tc.want {
			t.Errorf("parentKey(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}
