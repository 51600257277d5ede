package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/internal/drainsock"
)

const drainUsage = `Usage: neuron drain [--data-dir DIR] [--wait DURATION]

Drains the neuron running with data directory DIR, as the federation's
drain command does: its processor endpoints answer 503 "draining" with
Retry-After, /ready answers 503 so load balancers stop sending traffic,
and calls in progress finish. Waits until none is in progress, at most
DURATION. Exit 0 once drained, 1 when the neuron cannot be reached or
calls are still running when the wait ends.

It reaches the neuron through the unix socket DIR/neuron.sock, which only
the neuron's user may open: run it beside the neuron, as the same user. It
is the Kubernetes preStop hook of deploy/kubernetes:

  lifecycle:
    preStop:
      exec:
        command: ["/neuron", "drain", "--wait", "20s"]

The neuron then stops on SIGTERM with nothing left in flight.

Flags:
  --data-dir DIR     the neuron's data directory (default $NEURON_DATA_DIR, else %s)
  --wait DURATION    how long to wait for calls in progress (default %s, at most %s)
`

// drainCmd runs `neuron drain`.
func drainCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	usage := fmt.Sprintf(drainUsage, config.DefaultDataDir, drainsock.DefaultWait, drainsock.MaxWait)
	fs := flag.NewFlagSet("neuron drain", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("data-dir", cmp.Or(os.Getenv("NEURON_DATA_DIR"), config.DefaultDataDir), "")
	wait := fs.Duration("wait", drainsock.DefaultWait, "")
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = io.WriteString(stdout, usage)
		return exitOK
	case err == nil && fs.NArg() > 0:
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case err == nil && (*wait < 0 || *wait > drainsock.MaxWait):
		err = fmt.Errorf("--wait %s: from 0s to %s", *wait, drainsock.MaxWait)
	}
	if err != nil {
		fmt.Fprintf(stderr, "neuron drain: %v\n\n%s", err, usage)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *wait+10*time.Second)
	defer cancel()
	if _, err := drainsock.Drain(ctx, *dir, *wait); err != nil {
		fmt.Fprintf(stderr, "neuron drain: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(stdout, "drained: no call in progress; processor endpoints answer 503 draining")
	return exitOK
}
