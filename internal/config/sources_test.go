package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// fieldOf reads the fields the provider tests look at, by key.
var fieldOf = map[string]func(*Config) string{
	"id":                           func(c *Config) string { return c.ID },
	"listen":                       func(c *Config) string { return c.Listen },
	"logLevel":                     func(c *Config) string { return c.LogLevel },
	"federation.url":               func(c *Config) string { return c.Federation.URL },
	"federation.listen":            func(c *Config) string { return c.Federation.Listen },
	"federation.type":              func(c *Config) string { return c.Federation.Type },
	"federation.heartbeatInterval": func(c *Config) string { return c.Federation.HeartbeatInterval.String() },
	"federation.metadata":          func(c *Config) string { return pairs(c.Federation.Metadata) },
	"limits.poolMin":               func(c *Config) string { return fmt.Sprint(c.Limits.PoolMin) },
	"limits.poolMax":               func(c *Config) string { return fmt.Sprint(c.Limits.PoolMax) },
	"limits.poolQueue":             func(c *Config) string { return fmt.Sprint(c.Limits.PoolQueue) },
}

// TestLoad_Providers pins what the environment and the flags give through
// koanf's env and basicflag providers where reading them could differ from
// reading them by hand: empty values, values holding '=', nested keys that
// must merge with the file's siblings, flags given or left to their
// default, the forms of a flag, and errors naming the variable or flag.
func TestLoad_Providers(t *testing.T) {
	const file = "testdata/full.yaml"
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    map[string]string // key → value (see fieldOf)
		wantErr string            // a substring of the error; want is then unused
	}{
		// Environment.
		{name: "empty nested variable is unset", env: map[string]string{"NEURON_CONFIG": file, "NEURON_HEARTBEAT_INTERVAL": "", "NEURON_POOL_MAX": ""},
			want: map[string]string{"federation.heartbeatInterval": "11s", "limits.poolMax": "6"}},
		{name: "empty variable over the defaults", env: map[string]string{"NEURON_POOL_MAX": "", "LOG_LEVEL": ""},
			want: map[string]string{"limits.poolMax": "8", "logLevel": "info"}},
		{name: "blank variable is a value", env: map[string]string{"NEURON_LISTEN": "  "},
			wantErr: "config: listen in env NEURON_LISTEN: must not be empty"},
		{name: "value holding '='", env: map[string]string{"NEURON_METADATA": "q=a=b,region=eu"},
			want: map[string]string{"federation.metadata": "q=a=b,region=eu"}},
		{name: "nested variables merge with the file's siblings",
			env: map[string]string{"NEURON_CONFIG": file, "FEDERATION_URL": "embedded", "NEURON_TYPE": "env-type", "NEURON_POOL_MAX": "7"},
			want: map[string]string{"federation.url": "embedded", "federation.type": "env-type", "federation.listen": "127.0.0.1:5001",
				"federation.heartbeatInterval": "11s", "limits.poolMax": "7", "limits.poolMin": "2", "limits.poolQueue": "31"}},
		{name: "nested variable's error names it", env: map[string]string{"NEURON_POOL_QUEUE": "x"},
			wantErr: `config: limits.poolQueue in env NEURON_POOL_QUEUE: must be a whole number, got "x"`},
		{name: "an item of a parsed variable names it", env: map[string]string{"NEURON_DEPENDENCIES": "db=nope:x"},
			wantErr: `config: dependencies[0].kind in env NEURON_DEPENDENCIES: unknown kind "nope"`},
		{name: "variables outside the table are ignored",
			env:  map[string]string{"NEURON_LIMITS_POOLMAX": "0", "NEURON_FEDERATION_URL": "x", "limits.poolMax": "0", "NEURON_CONFIG_FILE": "nope.yaml"},
			want: map[string]string{"limits.poolMax": "8", "federation.url": ""}},
		// Flags.
		{name: "flag not given keeps the environment", args: []string{"--log-level", "debug"}, env: map[string]string{"NEURON_LISTEN": "127.0.0.1:9002"},
			want: map[string]string{"listen": "127.0.0.1:9002", "logLevel": "debug"}},
		{name: "flag not given keeps the file", args: []string{"--config", file},
			want: map[string]string{"listen": "127.0.0.1:9001", "federation.url": "https://federation.file:5000", "id": "file-id"}},
		{name: "flag given empty overrides the environment", args: []string{"--federation-url="}, env: map[string]string{"FEDERATION_URL": "embedded"},
			want: map[string]string{"federation.url": ""}},
		{name: "flag given empty leaves the id to derive", args: []string{"--id", ""}, env: map[string]string{"NEURON_ID": "env-id"},
			want: map[string]string{"id": hostID(t)}},
		{name: "single-dash flag", args: []string{"-listen", "127.0.0.1:9003"}, env: map[string]string{"NEURON_LISTEN": "127.0.0.1:9002"},
			want: map[string]string{"listen": "127.0.0.1:9003"}},
		{name: "flag given twice: the last wins", args: []string{"--listen=127.0.0.1:1", "--listen", "127.0.0.1:2"},
			want: map[string]string{"listen": "127.0.0.1:2"}},
		{name: "file < env < flag on a nested key, siblings kept", args: []string{"--config", file, "--federation-listen", "[::1]:5003"},
			env:  map[string]string{"FEDERATION_LISTEN": ":5002", "FEDERATION_URL": "embedded"},
			want: map[string]string{"federation.listen": "[::1]:5003", "federation.url": "embedded", "federation.heartbeatInterval": "11s", "federation.type": "file-type"}},
		{name: "nested flag's error names it", args: []string{"--federation-listen", "5000"},
			wantErr: `config: federation.listen in flag --federation-listen: invalid listen address "5000"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(tc.args, env(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to hold %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for key, want := range tc.want {
				if got := fieldOf[key](cfg); got != want {
					t.Errorf("%s = %q, want %q", key, got, want)
				}
			}
		})
	}
}

// Load asks the environment only for the variables it documents: Load's
// caller decides what the environment is, and nothing else of it is read.
func TestLoad_EnvAsksOnlyTheTable(t *testing.T) {
	var asked []string
	_, err := Load(nil, func(name string) (string, bool) {
		asked = append(asked, name)
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range asked {
		if !slices.ContainsFunc(envVars, func(b binding) bool { return b.name == name }) {
			t.Errorf("Load looked up %s, which envVars does not list", name)
		}
	}
	if len(asked) < len(envVars) {
		t.Errorf("Load looked up %d variables, want each of the %d of envVars", len(asked), len(envVars))
	}
}

// FuzzEnvLayer feeds any value to any variable of envVars: the env provider
// must put it, whole and as a string, at the variable's key (values may
// hold '=', newlines, anything), name the variable as its source, and take
// an empty value as unset.
func FuzzEnvLayer(f *testing.F) {
	f.Add(uint8(0), "x")
	f.Add(uint8(19), "a=b=c,d=")
	f.Add(uint8(26), "db=tcp:127.0.0.1:1;=")
	f.Add(uint8(3), "")
	f.Add(uint8(5), "\n=\x00")
	f.Fuzz(func(t *testing.T, i uint8, v string) {
		b := envVars[int(i)%len(envVars)]
		l := envLayer(env(map[string]string{b.name: v}))
		if b.key == "" || v == "" {
			if len(l.raw) != 0 {
				t.Fatalf("%s=%q gave %v, want nothing", b.name, v, l.raw)
			}
			return
		}
		var got any = l.raw
		for _, part := range strings.Split(b.key, ".") {
			m, ok := got.(map[string]any)
			if !ok {
				t.Fatalf("%s=%q: no mapping above %s in %v", b.name, v, part, l.raw)
			}
			got = m[part]
		}
		if got != v {
			t.Errorf("%s=%q: %s = %#v", b.name, v, b.key, got)
		}
		if w := l.where(b.key); w != "env "+b.name {
			t.Errorf("%s: where(%s) = %q", b.name, b.key, w)
		}
	})
}
