// Command neuron serves WebAssembly processors as HTTP endpoints and joins
// the Empire Federation. Run `neuron help` for the commands.
//
// It owns the command line only: the commands (run, plugin inspect,
// validate, new, push, pull and sign, federation serve, auth hash-secret, health, version), their
// flags, their output and the project template of plugin new. The work is the packages': `run`
// is internal/agent over internal/config, `plugin inspect` and `validate`
// the runtime's, `plugin push`, `pull` and `sign` internal/oci's, `federation serve` internal/devfed's. Nothing under
// internal/ may import it (internal/modcheck checks), so what a test or
// another entry point needs must not live here.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
