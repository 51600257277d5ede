package modfile

import (
	"fmt"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/sdk/abi"
)

// manifestWith is a valid manifest's JSON with settings, a JSON object.
func manifestWith(settings string) string {
	return `{"name":"p","version":"1.0.0","endpoints":[{"method":"GET","path":"/p"}],"settings":` + settings + `}`
}

// manySettings is a settings object with n number settings.
func manySettings(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"k%d":%d`, i, i)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// The settings a manifest declares, as a sidecar or an export gives them:
// decoded as the loader decodes a manifest, then validated.
func TestValidateManifest_Settings(t *testing.T) {
	tests := []struct {
		name     string
		settings string
		want     map[string]any
	}{
		{"scalars", `{"greeting":"Hello","maxItems":10,"ratio":0.5,"verbose":false,"dry-run_2":true}`,
			map[string]any{"greeting": "Hello", "maxItems": 10.0, "ratio": 0.5, "verbose": false, "dry-run_2": true}},
		{"none", `{}`, map[string]any{}},
		{"null is none", `null`, nil},
		{"at the bound", manySettings(abi.MaxSettings), nil},
		{"empty string default", `{"prefix":""}`, map[string]any{"prefix": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m abi.Manifest
			if err := decodeStrict([]byte(manifestWith(tc.settings)), &m); err != nil {
				t.Fatal(err)
			}
			if err := validateManifest(&m); err != nil {
				t.Fatalf("validateManifest: %v", err)
			}
			if tc.want != nil && fmt.Sprint(m.Settings) != fmt.Sprint(tc.want) {
				t.Errorf("settings %v, want %v", m.Settings, tc.want)
			}
		})
	}
}

func TestValidateManifest_Settings_Errors(t *testing.T) {
	tests := []struct {
		name        string
		settings    string
		expectedErr []string
	}{
		{"object", `{"db":{"host":"x"}}`, []string{`settings.db: the default is an object; a setting's default is a string, a number or a boolean`}},
		{"list", `{"tags":["a"]}`, []string{`settings.tags: the default is an array`}},
		{"null", `{"greeting":null}`, []string{`settings.greeting: the default is null`}},
		{"dot in key", `{"a.b":1}`, []string{`settings: key "a.b": use 1-64 letters, digits, '_' or '-', starting with a letter`}},
		{"digit first", `{"1st":1}`, []string{`settings: key "1st"`}},
		{"empty key", `{"":1}`, []string{`settings: key ""`}},
		{"key too long", `{"` + strings.Repeat("k", 65) + `":1}`, []string{`settings: key "kkkk`}},
		{"long string", `{"text":"` + strings.Repeat("x", maxSettingString+1) + `"}`, []string{`settings.text: the default is 4097 bytes, at most 4096`}},
		{"too many", manySettings(abi.MaxSettings + 1), []string{`settings: 65 declared, at most 64`}},
		{"every problem at once", `{"a":{},"b":[],"c.d":1}`, []string{`settings.a: the default is an object`, `settings.b: the default is an array`, `key "c.d"`}},
		{"not an object", `[1]`, []string{`cannot unmarshal array`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m abi.Manifest
			err := decodeStrict([]byte(manifestWith(tc.settings)), &m)
			if err == nil {
				err = validateManifest(&m)
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.expectedErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\nwant it to contain %q", err, want)
				}
			}
		})
	}
}

// FuzzValidateManifest: whatever a manifest holds, decoding and validating
// it never panics, and a manifest accepted declares only settings the
// federation can type-check: at most abi.MaxSettings, each a string, a
// number or a boolean.
func FuzzValidateManifest(f *testing.F) {
	for _, seed := range []string{
		manifestWith(`{"greeting":"Hello","maxItems":10,"on":true}`),
		manifestWith(`{"nested":{"a":1},"list":[1],"none":null,"a.b":"x"}`),
		manifestWith(manySettings(abi.MaxSettings + 1)),
		`{"name":"p","version":"1.0.0","endpoints":[{"method":"GET","path":"/p"}],"limits":{"callTimeout":"1s"}}`,
		`{"settings":"x"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m abi.Manifest
		if decodeStrict(b, &m) != nil || validateManifest(&m) != nil {
			return
		}
		if len(m.Settings) > abi.MaxSettings {
			t.Fatalf("%d settings accepted", len(m.Settings))
		}
		for k, v := range m.Settings {
			switch v.(type) {
			case string, float64, bool:
			default:
				t.Fatalf("setting %q = %v (%T) accepted", k, v, v)
			}
		}
	})
}

// An endpoint may be public or require scopes, not both; its scopes are
// tokens of sane length; the token endpoint's path is the neuron's.
func TestValidateManifest_Access(t *testing.T) {
	many := make([]string, abi.MaxScopes+1)
	for i := range many {
		many[i] = fmt.Sprintf(`"s%d"`, i)
	}
	tests := []struct {
		name, endpoint, want string // want "" for valid
	}{
		{"public", `{"method":"GET","path":"/p","public":true}`, ""},
		{"scopes", `{"method":"GET","path":"/p","scopes":["orders:read","admin"]}`, ""},
		{"public with scopes", `{"method":"GET","path":"/p","public":true,"scopes":["a"]}`, "public with scopes"},
		{"a scope with a space", `{"method":"GET","path":"/p","scopes":["read write"]}`, `scope "read write"`},
		{"an empty scope", `{"method":"GET","path":"/p","scopes":[""]}`, `scope ""`},
		{"too many scopes", `{"method":"GET","path":"/p","scopes":[` + strings.Join(many, ",") + `]}`, "at most 16"},
		{"the token endpoint", `{"method":"POST","path":"/auth/token"}`, "reserved for the neuron itself"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m abi.Manifest
			if err := decodeStrict([]byte(`{"name":"p","version":"1.0.0","endpoints":[`+tc.endpoint+`]}`), &m); err != nil {
				t.Fatal(err)
			}
			err := validateManifest(&m)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("validateManifest: %v, want %q", err, tc.want)
			}
		})
	}
}
