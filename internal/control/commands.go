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
	// event and the push answer. Its ctx is the command's own, not the
	// request's that delivered it: it ends at Timeout or when the
	// Controller closes (the neuron stops).
	Run func(ctx context.Context, data json.RawMessage) (any, error)
	// Timeout bounds one run; zero is DefaultCommandTimeout.
	Timeout time.Duration
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
	// IssuedAt is the command's, when the federation set it: what the
	// ledger's window is measured in once the outcome is forgotten.
	IssuedAt time.Time `json:"issuedAt,omitzero"`
	// Repeated is true when the id had run before: the earlier outcome is
	// returned and nothing runs again.
	Repeated bool `json:"repeated,omitempty"`
	// Running is true while the command still runs when the answer is
	// due (OK is false then, and means nothing yet): its outcome comes in
	// a command_executed event once it ends.
	Running bool `json:"running,omitempty"`
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
