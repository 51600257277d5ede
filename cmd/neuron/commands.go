package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/empirefederation/neuron/internal/agent"
	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/internal/signature"
	"github.com/empirefederation/neuron/runtime"
	"github.com/empirefederation/neuron/sdk/abi"
)

// Exit statuses, as the contract fixes them.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// Build information, set with -ldflags "-X main.version=... -X main.commit=...
// -X main.buildDate=..." (make build and make image do; buildDate is RFC 3339 UTC).
var (
	version   = "dev"
	commit    = ""
	buildDate = ""
)

const usage = `neuron serves WebAssembly processors as HTTP API endpoints and joins the
Empire Federation.

Usage:
  neuron run [flags]                  load ./plugins/*.wasm and serve their endpoints
  neuron federation serve [flags]     run a development federation with its dashboard
  neuron plugin inspect [--json] FILE show a module's manifest, endpoints, exports and imports
  neuron plugin validate FILE         check a module as 'neuron run' would load it; exit 0 or explain
  neuron plugin new NAME              scaffold a processor project in ./NAME
  neuron plugin push REF FILE         validate a processor, push it to an OCI registry; print its digest
  neuron plugin pull REF [DIR]        fetch a processor from an OCI registry by tag or digest
  neuron plugin keygen [--out PREFIX] make a key pair to sign processors with
  neuron plugin sign --key KEY FILE|REF  sign a processor file or a pushed one (Ed25519)
  neuron auth hash-secret < SECRET    print the bcrypt hash of a token endpoint client's secret
  neuron drain [--wait DURATION]      drain the local neuron and wait for its calls (a preStop hook)
  neuron health [--url URL]           exit 0 only when the local neuron answers /health healthy
  neuron version                      print version, commit, build date, Go and wazero versions

Every command takes --help. Exit status: 0 success, 1 failure, 2 usage error.

Quick start:
  make plugins                          # build the example processors into ./plugins
  FEDERATION_URL=embedded neuron run    # serve them on :8080, with a development
                                        # federation and its dashboard on :5000
  curl localhost:8080/hello/world

Writing a processor: 'neuron plugin new NAME' starts one; the guide is
sdk/README.md and the contract docs/abi.md, in the neuron repository.
`

// run executes the command in args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return runNeuron(ctx, args[1:], stdout, stderr)
	case "plugin":
		return plugin(ctx, args[1:], stdout, stderr)
	case "federation":
		return federationCmd(ctx, args[1:], stdout, stderr)
	case "auth":
		return authCmd(args[1:], os.Stdin, stdout, stderr)
	case "drain":
		return drainCmd(ctx, args[1:], stdout, stderr)
	case "health":
		return healthCmd(ctx, args[1:], stdout, stderr)
	case "version":
		return printVersion(stdout)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "neuron: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

func runNeuron(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(args, nil)
	var uerr *config.UsageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		config.Usage(stdout)
		return exitOK
	case errors.As(err, &uerr):
		fmt.Fprintf(stderr, "neuron run: %v\nRun 'neuron run --help' for the flags.\n", uerr.Err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "neuron run: invalid configuration:\n%v\n", indent(err.Error()))
		return exitFailure
	}
	cfg.BuildVersion = version
	if commit != "" {
		cfg.BuildVersion += "+" + commit
	}
	if err := agent.Run(ctx, cfg, stderr); err != nil {
		fmt.Fprintf(stderr, "neuron run: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func printInspection(w io.Writer, info *runtime.Inspection) {
	m := info.Manifest
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "name\t%s\nversion\t%s\ndescription\t%s\n", m.Name, m.Version, m.Description)
	fmt.Fprintf(tw, "file\t%s (%d bytes)\nsha256\t%s\nabi\tv%d\nmanifest\t%s\n", info.Path, info.Size, info.Digest, info.ABI, info.ManifestSource)
	stop := "interrupt flag (fast)"
	if !info.Interruptible {
		stop = "wazero context watch (slower: the module uses instructions the instrumentation does not know)"
	}
	fmt.Fprintf(tw, "timeouts\t%s\n", stop)
	signed := "none (" + filepath.Base(info.Path) + signature.Suffix + " is absent)"
	switch {
	case len(info.SignedBy) > 0 && info.SignatureVerified:
		signed = "signed by " + strings.Join(info.SignedBy, ", ") + "; verified with the trusted keys"
	case len(info.SignedBy) > 0:
		signed = "signed by " + strings.Join(info.SignedBy, ", ") + "; not verified (no trustedKeys configured)"
	}
	fmt.Fprintf(tw, "signature\t%s\n", signed)
	fmt.Fprintf(tw, "capabilities\t%s\npermissions\t%s\nheaders\t%s\n", list(m.Capabilities), list(m.Permissions), list(m.Headers))
	l := info.Limits
	fmt.Fprintf(tw, "limits\tmemory %s (%s), timeout %s, body %s, response %s, pool %d..%d, queue %d, start %s\n",
		plural(int(l.MemoryPages), "page"), bytesIEC(int64(l.MemoryPages)*pageBytes), l.CallTimeout, bytesIEC(l.MaxBodyBytes),
		bytesIEC(l.MaxResponseBytes), l.PoolMin, l.PoolMax, l.PoolQueue, l.StartTimeout)
	_ = tw.Flush()
	fmt.Fprintln(w, "\nendpoints:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range m.Endpoints {
		// Who may call it when the neuron authenticates its callers.
		access := "-"
		switch {
		case e.Public:
			access = "public"
		case len(e.Scopes) > 0:
			access = "scopes " + strings.Join(e.Scopes, ",")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", e.Method, e.Path, e.Export, access, e.Description)
	}
	_ = tw.Flush()
	printSettings(w, m.Settings)
	fmt.Fprintf(w, "\nexports: %s\nimports: %s\n", list(info.Exports), list(info.Imports))
}

// printSettings lists the settings a manifest declares, each with its
// type and default: what a federation may set as plugins.NAME.KEY.
func printSettings(w io.Writer, settings map[string]any) {
	if len(settings) == 0 {
		fmt.Fprintln(w, "\nsettings: -")
		return
	}
	fmt.Fprintln(w, "\nsettings:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		v := settings[k]
		typ := "string"
		switch v.(type) {
		case bool:
			typ = "boolean"
		case float64:
			typ = "number"
		}
		def, _ := json.Marshal(v)
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", k, typ, def)
	}
	_ = tw.Flush()
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

func printVersion(w io.Writer) int {
	wazero := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/tetratelabs/wazero" {
				wazero = d.Version
			}
		}
		if commit == "" {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					commit = s.Value
				}
			}
		}
	}
	fmt.Fprintf(w, "neuron %s\ncommit %s\nbuilt %s\ngo %s\nwazero %s\nabi v%d\n", version, orNone(commit), orNone(buildDate), goruntime.Version(), wazero, abi.Version)
	return exitOK
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
