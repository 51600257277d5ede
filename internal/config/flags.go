package config

import (
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
)

// FlagSet returns the flags of `neuron run`. Load parses them itself; the
// set is exported for help output and for commands that embed `run`. Only
// flags that are set override the other layers. The set does not print on
// errors, and its Usage writes Usage to its output.
func FlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("neuron run", flag.ContinueOnError)
	for _, b := range flags {
		fs.String(b.name, "", b.help)
	}
	fs.SetOutput(io.Discard)
	fs.Usage = func() { Usage(fs.Output()) }
	return fs
}

// Usage writes the help of `neuron run`: its flags and environment.
func Usage(w io.Writer) {
	fs := FlagSet()
	fs.SetOutput(w)
	fmt.Fprint(w, `Usage: neuron run [flags]

Load the processors in the plugins directory, serve their endpoints and join
the federation. Configuration is layered, later wins: defaults < YAML file
(--config or NEURON_CONFIG) < environment < flags.

Flags:
`)
	fs.PrintDefaults()
	fmt.Fprint(w, "\nEnvironment:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, b := range envVars {
		fmt.Fprintf(tw, "  %s\t%s\n", b.name, b.help)
	}
	_ = tw.Flush()
	fmt.Fprint(w, "\nEvery key, its YAML form and default: docs/configuration.md\n")
}
