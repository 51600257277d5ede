package control

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/runtime"
	"github.com/empirefederation/neuron/sdk/abi"
)

// loadedProcessors are the processor versions the settings tests' runtime
// has loaded: hello serves 1.0.0, which declares greeting (a string) and
// maxItems; 1.1.0 stands by and declares greeting as a number and
// colourful; quiet declares nothing, locked declares level. Only the data processor's settings
// are declared in the config file (newEnv), and it is not loaded.
var loadedProcessors = []runtime.ProcessorInfo{
	{Name: "hello", Version: "1.1.0", Manifest: abi.Manifest{Name: "hello", Version: "1.1.0",
		Settings: map[string]any{"greeting": 5.0, "colourful": true}}},
	{Name: "hello", Version: "1.0.0", Serving: true, Manifest: abi.Manifest{Name: "hello", Version: "1.0.0",
		Settings: map[string]any{"greeting": "Hello", "maxItems": 10.0}}},
	{Name: "quiet", Version: "1.0.0", Serving: true, Manifest: abi.Manifest{Name: "quiet", Version: "1.0.0"}},
	{Name: "locked", Version: "1.0.0", Serving: true, Manifest: abi.Manifest{Name: "locked", Version: "1.0.0",
		Settings: map[string]any{"level": 1.0}}},
}

// settingsEnv is newEnv with loadedProcessors loaded and the operator's
// pins: hello's maxItems, timeoutSeconds and all of locked's settings.
func settingsEnv(t *testing.T) env {
	t.Helper()
	e := newEnv(t, t.TempDir(), func(o *Options) {
		o.Pinned = []string{"plugins.hello.maxItems", "timeoutSeconds", "plugins.locked.*"}
	})
	e.target.procs = loadedProcessors
	return e
}

// A federation sets what a loaded processor declares, as plugins.NAME.KEY
// or under plugins, with no declaration in the config file, with a value
// of the type of the serving version's default.
func TestApply_DeclaredSettings(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   map[string]map[string]any
	}{
		{"plugins.NAME.KEY", `{"plugins.hello.greeting": "Hi"}`,
			map[string]map[string]any{"hello": {"greeting": "Hi"}}},
		{"under plugins", `{"plugins": {"hello": {"greeting": "Hi"}}}`,
			map[string]map[string]any{"hello": {"greeting": "Hi"}}},
		{"plugins.NAME object", `{"plugins.hello": {"greeting": "Hi"}}`,
			map[string]map[string]any{"hello": {"greeting": "Hi"}}},
		{"the most specific form wins", `{"plugins": {"hello": {"greeting": "A", "colourful": false}}, "plugins.hello": {"greeting": "B"}, "plugins.hello.greeting": "C"}`,
			map[string]map[string]any{"hello": {"greeting": "C", "colourful": false}}},
		{"declared by a version standing by", `{"plugins.hello.colourful": false}`,
			map[string]map[string]any{"hello": {"colourful": false}}},
		{"a runtime key of a processor", `{"plugins.quiet2.batchSize": 7, "plugins.hello.batchSize": 8}`,
			map[string]map[string]any{"hello": {"batchSize": int64(8)}, "quiet2": {"batchSize": int64(7)}}},
		{"declared in the config file, not loaded, as before", `{"plugins.data-processor.dedupe": false}`,
			map[string]map[string]any{"data-processor": {"dedupe": false}}},
		{"declared under settings in the config file, as before", `{"plugins.hello.region": "us"}`,
			map[string]map[string]any{"hello": {"region": "us"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := settingsEnv(t)
			if _, err := e.c.Apply(context.Background(), update(t, `{"config": `+tc.config+`}`), "push"); err != nil {
				t.Fatal(err)
			}
			got := e.target.last().Plugins
			for name, want := range tc.want {
				for k, v := range want {
					if !reflect.DeepEqual(got[name][k], v) {
						t.Errorf("plugins.%s.%s = %#v, want %#v", name, k, got[name][k], v)
					}
				}
			}
		})
	}
}

func TestApply_DeclaredSettings_Errors(t *testing.T) {
	tests := []struct {
		name        string
		update      string
		expectedErr string
	}{
		{"undeclared key", `{"config": {"plugins.hello.colour": "red"}}`,
			`config.plugins.hello.colour: hello declares no setting "colour"; it declares colourful (boolean), greeting (string), maxItems (number)`},
		{"undeclared key under plugins", `{"config": {"plugins": {"hello": {"colour": "red"}}}}`,
			`config.plugins.hello.colour: hello declares no setting "colour"; it declares colourful (boolean), greeting (string), maxItems (number)`},
		{"type mismatch", `{"config": {"plugins.hello.greeting": 5}}`,
			`config.plugins.hello.greeting: must be a string like hello's declared default, got a number`},
		{"an object for a string", `{"config": {"plugins": {"hello": {"greeting": {"text": "Hi"}}}}}`,
			`config.plugins.hello.greeting: must be a string like hello's declared default, got an object`},
		{"a processor that declares nothing", `{"config": {"plugins.quiet.x": 1}}`,
			`config.plugins.quiet.x: quiet declares no setting "x"; it declares no settings`},
		{"not loaded", `{"config": {"plugins.helo.greeting": "Hi"}}`,
			`config.plugins.helo.greeting: no processor "helo" is loaded, so no setting of it can be checked; loaded: hello, locked, quiet`},
		{"pinned key", `{"config": {"plugins.hello.maxItems": 20}}`,
			`config.plugins.hello.maxItems: pinned by the operator (pinnedSettings: plugins.hello.maxItems in the neuron's config file); the federation may not set it`},
		{"pinned processor", `{"config": {"plugins.locked.level": 2}}`,
			`config.plugins.locked.level: pinned by the operator (pinnedSettings: plugins.locked.* in the neuron's config file)`},
		{"pinned processor, runtime key", `{"config": {"plugins.locked.batchSize": 2}}`,
			`config.plugins.locked.batchSize: pinned by the operator (pinnedSettings: plugins.locked.* in the neuron's config file)`},
		{"pinned settings key", `{"config": {"timeoutSeconds": 20}}`,
			`config.timeoutSeconds: pinned by the operator (pinnedSettings: timeoutSeconds in the neuron's config file)`},
		{"a processor's key as a flat key", `{"config": {"greeting": "Hi"}}`,
			`config.greeting: unknown key; the neuron accepts its runtime keys (batchSize, maxRetries, timeoutSeconds, enableDebugMode, rateLimit, rateBurst, rateLimits.NAME) and keys declared under settings or plugins.NAME in its config file: declare it there to let the federation set it; a processor's own setting is set as plugins.NAME.greeting (declared by hello)`},
		{"an experiment variant", `{"experiment": {"id": "x", "plugin": "hello", "variants": [{"name": "a", "weight": 50}, {"name": "b", "weight": 50, "config": {"colour": "red"}}]}}`,
			`experiment.variants[1].config.plugins.hello.colour: hello declares no setting "colour"`},
		{"an experiment's config", `{"experiment": {"id": "x", "variant": "v", "config": {"plugins.hello.greeting": true}}}`,
			`experiment.config.plugins.hello.greeting: must be a string like hello's declared default, got a boolean`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := settingsEnv(t)
			// A valid key beside the bad one: the update is refused whole.
			u := update(t, strings.Replace(tc.update, `{"config": {`, `{"config": {"plugins.hello.colourful": true, `, 1))
			_, err := e.c.Apply(context.Background(), u, "push")
			var rej *RejectedError
			if !errors.As(err, &rej) {
				t.Fatalf("Apply: %v, want a rejection", err)
			}
			if !strings.Contains(err.Error(), tc.expectedErr) {
				t.Errorf("error %q\nwant it to contain %q", err, tc.expectedErr)
			}
			if n := len(e.target.applied); n != 0 {
				t.Errorf("%d configs applied, want none", n)
			}
		})
	}
}

// The last good config is restored at start, before any processor loads:
// the keys only a processor declares are kept as they were accepted.
func TestNew_RestoresDeclaredSettings(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir)
	e.target.procs = loadedProcessors
	if _, err := e.c.Apply(context.Background(), update(t, `{"config": {"plugins.hello.greeting": "Hi"}, "version": "v1"}`), "push"); err != nil {
		t.Fatal(err)
	}
	again := newEnv(t, dir) // nothing loaded yet
	if got := again.target.last().Plugins["hello"]["greeting"]; got != "Hi" || again.c.Version() != "v1" {
		t.Errorf("restored greeting %v, version %q; want Hi, v1", got, again.c.Version())
	}
}
