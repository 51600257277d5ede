package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/internal/limits"
)

func TestIDFromHostname(t *testing.T) {
	tests := []struct{ host, want string }{
		{"web-01", "web-01"},
		{"Web01.Example.COM", "web01-example-com"},
		{"a_b c", "a-b-c"},
		{"", "neuron"},
	}
	for _, tc := range tests {
		if got := idFromHostname(tc.host); got != tc.want {
			t.Errorf("idFromHostname(%q) = %q, want %q", tc.host, got, tc.want)
		}
	}
}

func TestBaseURLFor(t *testing.T) {
	tests := []struct{ addr, want string }{
		{":8080", "http://localhost:8080"},
		{"0.0.0.0:80", "http://localhost:80"},
		{"[::]:9000", "http://localhost:9000"},
		{"127.0.0.1:0", "http://127.0.0.1:0"},
		{"[::1]:8080", "http://[::1]:8080"},
		{"neuron.internal:8080", "http://neuron.internal:8080"},
	}
	for _, tc := range tests {
		if got := BaseURLFor(tc.addr); got != tc.want {
			t.Errorf("BaseURLFor(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestUsage(t *testing.T) {
	var b bytes.Buffer
	Usage(&b)
	out := b.String()
	for _, f := range flags {
		if !strings.Contains(out, "-"+f.name) {
			t.Errorf("usage lacks flag %s", f.name)
		}
	}
	for _, e := range envVars {
		if !strings.Contains(out, e.name) {
			t.Errorf("usage lacks env %s", e.name)
		}
	}
}

// TestDocs keeps docs/configuration.md in step with the tables.
func TestDocs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range envVars {
		if !bytes.Contains(doc, []byte("`"+b.name+"`")) {
			t.Errorf("docs/configuration.md lacks env %s", b.name)
		}
	}
	for _, b := range flags {
		if !bytes.Contains(doc, []byte("`--"+b.name)) {
			t.Errorf("docs/configuration.md lacks flag --%s", b.name)
		}
	}
	for _, key := range schemaKeys("", schema) {
		if !bytes.Contains(doc, []byte("`"+key)) {
			t.Errorf("docs/configuration.md lacks key %s", key)
		}
	}
	for _, key := range []string{SettingBatchSize, SettingMaxRetries, SettingTimeoutSeconds, SettingEnableDebugMode} {
		if !bytes.Contains(doc, []byte("`settings."+key+"`")) {
			t.Errorf("docs/configuration.md lacks runtime setting %s", key)
		}
	}
}

// schemaKeys lists the keys of n that docs/configuration.md must name:
// every leaf, each named map and free mapping by its own key, and list
// items as key[].field.
func schemaKeys(prefix string, n *node) []string {
	switch {
	case n.fields != nil:
		var keys []string
		for _, k := range sortedKeys(n.fields) {
			keys = append(keys, schemaKeys(join(prefix, k), n.fields[k])...)
		}
		return keys
	case n.items != nil:
		return schemaKeys(prefix+"[]", n.items)
	}
	return []string{prefix}
}

func FuzzLoadYAML(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	seeds = append(seeds, "../../deploy/neuron.example.yaml")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("limits: {poolMin: 3, poolMax: 2}\npluginLimits: {x: ~}"))
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("settings: {? [1]: 2}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := yamlLayer("fuzz.yaml", data)
		if err != nil {
			return
		}
		cfg, err := build([]layer{defaultsLayer(), l})
		if err != nil {
			return
		}
		// Whatever Load accepts is valid.
		lim := cfg.Limits
		if lim.PoolMax <= 0 || lim.PoolMin > lim.PoolMax || lim.CallTimeout <= 0 ||
			len(lim.Beyond(cfg.MaxLimits)) > 0 || len(cfg.MaxLimits.Beyond(limits.HardMax())) > 0 {
			t.Errorf("accepted invalid limits %+v", lim)
		}
		if _, err := checkLogLevel(cfg.LogLevel); err != nil || cfg.ID == "" || cfg.BaseURL == "" {
			t.Errorf("accepted invalid config %+v", cfg)
		}
		names := map[string]bool{}
		for _, d := range cfg.Dependencies {
			if d.Validate() != nil || names[d.Name] || d.Timeout <= 0 || d.Timeout >= d.Interval {
				t.Errorf("accepted invalid dependency %+v", d)
			}
			names[d.Name] = true
		}
		for k, v := range cfg.Settings {
			if norm, own, err := RuntimeSetting(k, v); own && (err != nil || !reflect.DeepEqual(norm, v)) {
				t.Errorf("accepted setting %s = %#v (%v)", k, v, err)
			}
		}
		if a := cfg.Federation.AlertThresholds; a.ErrorRate <= 0 || a.ErrorRate > 100 || a.ResponseTime <= 0 || a.HealthScore < 0 || a.HealthScore > 100 {
			t.Errorf("accepted invalid alert thresholds %+v", a)
		}
	})
}
