package control

import (
	"context"
	"errors"
	"testing"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/config"
)

// FuzzApply feeds arbitrary update bodies through the whole path a pushed
// update takes. Whatever the body, Apply never panics, and either rejects
// it with reasons, changing nothing, or applies a config whose every key
// passed validation, including every processor's key (declared by a
// loaded processor, the runtime's, or declared in the config file).
func FuzzApply(f *testing.F) {
	for _, seed := range []string{
		`{"config": {"batchSize": 1000, "maxRetries": 3, "timeoutSeconds": 30, "enableDebugMode": false}}`,
		`{"config": {"plugins": {"data-processor": {"dedupe": true}}}, "version": "v1"}`,
		`{"experiment": {"id": "exp-001", "variant": "optimized_batch_size", "config": {"batchSize": 1500}}}`,
		`{"experiment": {"id": "exp-001", "stop": true}}`,
		`{"command": {"id": "c", "type": "restart_worker", "data": {"workerId": "worker-3", "graceful": true}}}`,
		`{"command": {"id": "c", "type": "set_log_level", "data": {"level": "debug"}}}`,
		`{"batchSize": 5, "region": "us"}`,
		`{"config": {"plugins.data-processor": {"dedupe": 1}}}`,
		`{"config": {"timeoutSeconds": 1e308}}`,
		`{"config": {"batchSize": 1.5}}`,
		`{"config": {"plugins.hello.greeting": "Hi", "plugins": {"hello": {"maxItems": 3}}, "plugins.hello": {"colourful": true}}}`,
		`{"config": {"plugins.hello.colour": 1, "plugins.a.b.c": 1, "plugins..": 2, "plugins.x.": 3}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e := newEnv(t, t.TempDir())
		e.target.procs = loadedProcessors
		u, err := federation.ParseUpdate(body)
		if err != nil {
			return
		}
		before := len(e.target.applied)
		_, err = e.c.Apply(context.Background(), u, "fuzz")
		var rej *RejectedError
		switch {
		case errors.As(err, &rej):
			if len(rej.Reasons) == 0 || len(e.target.applied) != before {
				t.Fatalf("rejection without reasons, or with a change: %v", err)
			}
		case err != nil:
			t.Fatalf("Apply: %v", err)
		}
		for _, d := range e.target.applied {
			for key, v := range d.Settings {
				if _, runtimeKey, _ := config.RuntimeSetting(key, nil); !runtimeKey && key != "region" {
					t.Fatalf("applied unknown key %q = %v", key, v)
				}
			}
			for name, own := range d.Plugins {
				for key := range own {
					_, declared := declared(loadedProcessors).lookup(name, key)
					_, runtimeKey, _ := config.RuntimeSetting(key, nil)
					local := key == "region" || name == "data-processor" && key == "dedupe" // newEnv's config file
					if !declared && !runtimeKey && !local {
						t.Fatalf("applied plugins.%s.%s, which nothing declares", name, key)
					}
				}
			}
			if d.CallTimeout < 0 {
				t.Fatalf("negative call timeout %v", d.CallTimeout)
			}
		}
	})
}
