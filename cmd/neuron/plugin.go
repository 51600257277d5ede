package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/empirefederation/neuron/internal/agent"
	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/runtime"
	"github.com/empirefederation/neuron/sdk/abi"
)

// pluginCommand is one `neuron plugin` subcommand: its usage, its flags
// and what it does with its arguments, of which it takes from min to max.
type pluginCommand struct {
	usage    string
	flags    func(fs *flag.FlagSet) func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	min, max int
}

// pluginCommands are the subcommands of `neuron plugin`, by name.
var pluginCommands = map[string]pluginCommand{
	"inspect":  {inspectUsage, inspectFlags, 1, 1},
	"validate": {validateUsage, validateFlags, 1, 1},
	"new":      {newUsage, newFlags, 1, 1},
	"keygen":   {keygenUsage, keygenFlags, 0, 0},
	"push":     {pushUsage, pushFlags, 2, 2},
	"pull":     {pullUsage, pullFlags, 1, 2},
	"sign":     {signUsage, signFlags, 1, 1},
}

const inspectUsage = `Usage: neuron plugin inspect [--json] [--config FILE] FILE.wasm

Print the module's manifest (from its neuron_manifest export or the sidecar
FILE.json), endpoints, effective limits, exports, imports, size, sha256 and
the keys that signed it (FILE.wasm.sig; verified when the configuration has
trustedKeys), after checking it as 'neuron plugin validate' does. --json
prints the same as JSON, with the manifest's field names and units.
`

var validateUsage = fmt.Sprintf(`Usage: neuron plugin validate [--config FILE] FILE.wasm

Check the module exactly as 'neuron run' would load it, with the same
configuration (--config FILE or NEURON_CONFIG, then the environment, as for
'neuron run'): a Wasm binary within the module budget, the required exports,
ABI v%d, a valid manifest, limits within the operator's maximums (maxLimits)
and memoryPages covering the module's own memory, permissions the operator
allows, the pool's minimum of instances that initialize within the start
timeout, and its self-test. Exit 0 when it would load, 1 with the same reason
'neuron run' would log when not, 2 for bad arguments. Not checked: routes
that collide with another processor in the plugins directory.
`, abi.Version)

const pluginUsage = `Usage:
  neuron plugin inspect [--json] [--config FILE] FILE.wasm
      print a module's manifest, endpoints, limits, exports and imports
  neuron plugin validate [--config FILE] FILE.wasm
      check a module exactly as 'neuron run' would load it; exit 0 or explain
  neuron plugin new [--sdk DIR] [--module PATH] NAME
      scaffold a processor project in ./NAME, ready to build and validate
  neuron plugin push [--config FILE] [--insecure] REF FILE.wasm
      validate a processor, then push it to an OCI registry; print its digest
  neuron plugin pull [--insecure] REF [DIR]
      fetch a processor (by tag or @sha256: digest) into DIR as NAME.wasm
  neuron plugin keygen [--out PREFIX]
      make an Ed25519 key pair to sign processors with (PREFIX.key, PREFIX.pub)
  neuron plugin sign --key KEY.key FILE.wasm|REF
      sign a processor file (writes FILE.wasm.sig) or a pushed one (an OCI
      referrer), so that neurons trusting the key accept it

Run 'neuron plugin COMMAND --help' for one command's details.
`

func plugin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(stdout, pluginUsage)
		return exitOK
	}
	cmd, ok := pluginCommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "neuron plugin: unknown command %q\n\n%s", args[0], pluginUsage)
		return exitUsage
	}
	usage := cmd.usage
	fs := flag.NewFlagSet("neuron plugin "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	do := cmd.flags(fs)
	err := fs.Parse(args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "neuron plugin %s: %v\n\n%s", args[0], err, usage)
		return exitUsage
	}
	if n := fs.NArg(); n < cmd.min || n > cmd.max {
		what := "too many arguments"
		switch {
		case cmd.max == 0:
			what = fmt.Sprintf("unexpected argument %q", fs.Arg(0))
		case n == 0:
			what = "missing argument"
		case n < cmd.min:
			what = "missing argument: expected " + plural(cmd.min, "argument")
		case cmd.max == 1:
			what = "expected one argument"
		}
		fmt.Fprintf(stderr, "neuron plugin %s: %s\n\n%s", args[0], what, usage)
		return exitUsage
	}
	return do(ctx, fs.Args(), stdout, stderr)
}

// configFlag adds --config to fs and returns the runtime options the
// configuration it names (or NEURON_CONFIG) and the environment give, as
// `neuron run` would load them.
func configFlag(fs *flag.FlagSet) func() (runtime.Options, error) {
	file := fs.String("config", "", "read the configuration from `FILE`, as 'neuron run --config FILE' does")
	return func() (runtime.Options, error) {
		var args []string
		if *file != "" {
			args = []string{"--config", *file}
		}
		cfg, err := config.Load(args, nil)
		if err != nil {
			return runtime.Options{}, fmt.Errorf("invalid configuration:\n%s", indent(err.Error()))
		}
		opts := agent.RuntimeOptions(cfg)
		// A check leaves the neuron's data directory alone: it needs none
		// of its state, and its compilation cache may be in use.
		opts.DataDir, opts.CacheDir = "", ""
		return opts, nil
	}
}

// check runs runtime.Inspect on path with the options of opts, printing
// why it failed to stderr as command name.
func check(ctx context.Context, name, path string, opts func() (runtime.Options, error), stderr io.Writer) (*runtime.Inspection, bool) {
	o, err := opts()
	if err != nil {
		fmt.Fprintf(stderr, "neuron plugin %s: %v\n", name, err)
		return nil, false
	}
	info, err := runtime.Inspect(ctx, path, o)
	if err != nil {
		var r *runtime.Rejection
		if errors.As(err, &r) && r.Plugin != "" {
			fmt.Fprintf(stderr, "neuron plugin %s: %s (processor %s@%s): %s\n", name, filepath.Base(r.File), r.Plugin, r.Version, r.Reason)
		} else {
			fmt.Fprintf(stderr, "neuron plugin %s: %v\n", name, err)
		}
		return nil, false
	}
	return info, true
}

func validateFlags(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
	opts := configFlag(fs)
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		path := args[0]
		info, ok := check(ctx, "validate", path, opts, stderr)
		if !ok {
			return exitFailure
		}
		fmt.Fprintf(stdout, "ok: %s is %s@%s, ABI v%d, %s\n", path, info.Manifest.Name, info.Manifest.Version, info.ABI,
			plural(len(info.Manifest.Endpoints), "endpoint"))
		return exitOK
	}
}

func inspectFlags(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
	asJSON := fs.Bool("json", false, "print JSON")
	opts := configFlag(fs)
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		path := args[0]
		info, ok := check(ctx, "inspect", path, opts, stderr)
		if !ok {
			return exitFailure
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(info)
			return exitOK
		}
		printInspection(stdout, info)
		return exitOK
	}
}

// plural is n and noun, in the plural unless n is 1: "1 endpoint",
// "2 endpoints", "0 endpoints".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// pageBytes is the size of a Wasm memory page.
const pageBytes = 64 << 10

// bytesIEC is n bytes in the largest binary unit that divides it exactly:
// "512 KiB", "128 MiB", "1000 B".
func bytesIEC(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n != 0 && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d B", n)
}
