package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/empirefederation/neuron/federation"
)

// Command is one command type the neuron runs.
type Command struct {
	// Check validates the command's data before anything of the update is
	// applied; nil accepts anything.
	Check func(data json.RawMessage) error
	// Run executes the command; its result goes into the command_executed
	// event and the push answer.
	Run func(ctx context.Context, data json.RawMessage) (any, error)
}

// Outcome is what running a command did.
type Outcome struct {
	ID       string    `json:"id"`
	Type     string    `json:"type"`
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	Result   any       `json:"result,omitempty"`
	Started  time.Time `json:"started"`
	Duration float64   `json:"durationMs"`
	// Repeated is true when the id had run before: the earlier outcome is
	// returned and nothing runs again.
	Repeated bool `json:"repeated,omitempty"`
}

// command validates a command and returns how to run it.
func (c *Controller) command(cmd *federation.Command) (Command, error) {
	known, ok := c.opts.Commands[cmd.Type]
	if !ok {
		return Command{}, fmt.Errorf("command %s: unknown type %q; this neuron runs %s", cmd.ID, cmd.Type,
			strings.Join(slices.Sorted(maps.Keys(c.opts.Commands)), ", "))
	}
	if known.Check != nil {
		if err := known.Check(cmd.Data); err != nil {
			return Command{}, fmt.Errorf("command %s (%s): %w", cmd.ID, cmd.Type, err)
		}
	}
	return known, nil
}

// run runs cmd unless its id ran before, records the outcome and reports it.
func (c *Controller) run(ctx context.Context, cmd *federation.Command, known Command) Outcome {
	if o, ok := c.ledger.get(cmd.ID); ok {
		o.Repeated = true
		c.log.Info("command already ran; not running it again", "id", cmd.ID, "type", cmd.Type, "ok", o.OK)
		return o
	}
	o := Outcome{ID: cmd.ID, Type: cmd.Type, Started: time.Now().UTC(), Error: "interrupted: the neuron stopped while it ran"}
	// Recorded before it runs: a crash mid-command must not run it twice.
	if err := c.ledger.put(o); err != nil {
		c.log.Error("command ledger not written; the command may run again after a restart", "err", err)
	}
	result, err := known.Run(ctx, cmd.Data)
	o.Duration = float64(time.Since(o.Started).Microseconds()) / 1000
	o.OK, o.Result, o.Error = err == nil, result, ""
	if err != nil {
		o.Error = err.Error()
		c.log.Warn("command failed", "id", cmd.ID, "type", cmd.Type, "err", err)
	} else {
		c.log.Info("command executed", "id", cmd.ID, "type", cmd.Type, "took_ms", o.Duration)
	}
	if err := c.ledger.put(o); err != nil {
		c.log.Error("command ledger not written", "err", err)
	}
	c.emit(EventCommandExecuted, o)
	return o
}

// decodeStrict decodes a command's data into v, refusing unknown fields;
// empty data is the zero value.
func decodeStrict(data json.RawMessage, v any) error {
	if len(bytes.TrimSpace(data)) == 0 || string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}
