package main

import (
	"regexp"
	"testing"

	"github.com/empirefederation/neuron/internal/testutil"
)

// `neuron plugin inspect` lists the settings a processor declares, each
// with its type and default; a processor that declares none says so.
func TestPluginInspect_Settings(t *testing.T) {
	t.Parallel()
	mod := testutil.BuildWasm(t, "examples/dataprocessor/v1.1.0")
	r := neuron(t, nil, "plugin", "inspect", mod)
	r.want(t, "inspect data-processor 1.1.0", 0)
	pattern := `(?m)^settings:\n +batchSize +number +1000\n +enableDebugMode +boolean +false\n +maxDetails +number +100\n\nexports: `
	if !regexp.MustCompile(pattern).MatchString(r.stdout) {
		t.Errorf("inspect output does not match %s:\n%s", pattern, r.stdout)
	}
	r = neuron(t, nil, "plugin", "inspect", hello(t))
	r.want(t, "inspect hello.wasm", 0, "signature     none (hello.wasm.sig is absent)")
	if !regexp.MustCompile(`(?m)^settings: -$`).MatchString(r.stdout) {
		t.Errorf("inspect output of a processor without settings lacks \"settings: -\":\n%s", r.stdout)
	}
}
