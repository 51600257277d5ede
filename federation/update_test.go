package federation

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseUpdate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Update
	}{
		{"bare config", `{"batchSize": 10, "enableDebugMode": true}`,
			Update{Config: map[string]any{"batchSize": json.Number("10"), "enableDebugMode": true}}},
		{"big integer stays exact", `{"config": {"limit": 9007199254740993}}`,
			Update{Config: map[string]any{"limit": json.Number("9007199254740993")}}},
		{"version only", `{"version": "v7"}`, Update{Version: "v7"}},
		{"nulls are absent", `{"config": null, "experiment": null, "command": null, "version": null}`, Update{}},
		{"empty object: nothing to apply", `{}`, Update{}},
		{"explicitly empty config", `{"config": {}}`, Update{Config: map[string]any{}}},
		{"nested plugin settings", `{"config": {"plugins.dp": {"mode": "fast"}}}`,
			Update{Config: map[string]any{"plugins.dp": map[string]any{"mode": "fast"}}}},
		{"experiment split", `{"experiment": {"id": "e1", "plugin": "dp", "stickyKey": "header:X-User",
			"variants": [{"name": "a", "weight": 50}, {"name": "b", "weight": 50, "version": "1.1.0", "config": {"batchSize": 5}}],
			"guardrails": {"errorRate": 5, "responseTime": 200}}}`,
			Update{Experiment: &Experiment{ID: "e1", Plugin: "dp", StickyKey: "header:X-User",
				Variants:   []Variant{{Name: "a", Weight: 50}, {Name: "b", Weight: 50, Version: "1.1.0", Config: map[string]any{"batchSize": json.Number("5")}}},
				Guardrails: &Guardrails{ErrorRate: 5, ResponseTime: 200}}}},
		{"experiment stop", `{"experiment": {"id": "e1", "stop": true}}`, Update{Experiment: &Experiment{ID: "e1", Stop: true}}},
		{"command", `{"command": {"id": "c1", "type": "set_log_level", "data": {"level": "debug"}}, "version": "3"}`,
			Update{Command: &Command{ID: "c1", Type: "set_log_level", Data: json.RawMessage(`{"level": "debug"}`)}, Version: "3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseUpdate([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestParseUpdate_Errors(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"array", `[1]`, `update: must be a JSON object, got array`},
		{"empty", ``, `update: must be a JSON object, got nothing`},
		{"not JSON", `{"config": }`, `update: invalid character`},
		{"config array", `{"config": [1]}`, `update: "config" must be an object, got array`},
		{"config string", `{"config": "x"}`, `update: "config" must be an object, got string`},
		{"version number", `{"version": 3}`, `update: "version" must be a string, got number`},
		{"experiment array", `{"experiment": []}`, `update: "experiment" must be an object, got array`},
		{"experiment unknown field", `{"experiment": {"id": "e", "colour": "red"}}`, `update: "experiment" is malformed: json: unknown field "colour"`},
		{"weight not integer", `{"experiment": {"id": "e", "variants": [{"name": "a", "weight": 50.5}]}}`, `update: "experiment" is malformed: json: cannot unmarshal number 50.5`},
		{"command data array", `{"command": {"type": "drain", "data": [1]}}`, `update: "command" "data" must be an object, got array`},
		{"command unknown field", `{"command": {"type": "drain", "args": {}}}`, `update: "command" is malformed: json: unknown field "args"`},
		{"unknown top-level key", `{"config": {}, "zeta": 1, "alpha": 2}`, `update: unknown field "alpha" (expected config, experiment, command or version)`},
		{"trailing data", `{"a": 1} {"b": 2}`, `update: unexpected data after the JSON value`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseUpdate([]byte(tc.in))
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want prefix %q", err, tc.wantErr)
			}
		})
	}
}

func TestUpdate_Empty(t *testing.T) {
	tests := []struct {
		u    Update
		want bool
	}{
		{Update{}, true},
		{Update{Config: map[string]any{}}, false},
		{Update{Version: "1"}, false},
		{Update{Command: &Command{Type: "drain"}}, false},
		{Update{Experiment: &Experiment{ID: "e"}}, false},
	}
	for _, tc := range tests {
		if got := tc.u.Empty(); got != tc.want {
			t.Errorf("%+v.Empty() = %v, want %v", tc.u, got, tc.want)
		}
	}
}

// FuzzParseUpdate: ParseUpdate never panics, and what it accepts encodes to
// an update that parses back to the same encoding.
func FuzzParseUpdate(f *testing.F) {
	ref, err := os.ReadFile(filepath.Join("testdata", "update.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(ref), `{}`, `{"batchSize": 1e3}`, `{"version": "x", "config": null}`,
		`{"experiment": {"id": "e", "variants": [{"name": "a", "weight": 100, "config": {"k": [1, {"x": null}]}}]}}`,
		`{"command": {"id": "1", "type": "t", "data": null}}`, `[]`, `{"config": {"a": "\ud800"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseUpdate(data)
		if err != nil {
			return
		}
		enc, err := json.Marshal(u)
		if err != nil {
			t.Fatalf("accepted %q but cannot encode it: %v", data, err)
		}
		again, err := ParseUpdate(enc)
		if err != nil {
			t.Fatalf("accepted %q, encoded %s, which does not parse: %v", data, enc, err)
		}
		enc2, err := json.Marshal(again)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip of %q changed: %s then %s (%v)", data, enc, enc2, err)
		}
	})
}
