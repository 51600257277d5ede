package control

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/empirefederation/neuron/federation"
)

// DefaultCommandTimeout bounds a command that sets no Timeout of its own.
const DefaultCommandTimeout = 2 * time.Minute

// DefaultAnswerWait is how long Apply waits for a command's outcome before
// it answers that the command runs on (Options.AnswerWait): short enough
// that a federation's push gets its answer before it gives up (the
// development federation's push timeout is 5 s).
const DefaultAnswerWait = 2 * time.Second

// execution is one command run: done is closed, with outcome set, when it
// has ended.
type execution struct {
	started time.Time
	outcome Outcome
	done    chan struct{}
}

// finished is an execution that has ended already with o.
func finished(o Outcome) *execution {
	x := &execution{outcome: o, done: make(chan struct{})}
	close(x.done)
	return x
}

// start starts cmd unless its id runs now (that run is returned) or ran
// before (its recorded outcome, marked repeated). The run is detached
// from the request that delivered the command: it goes on, under its own
// timeout, whatever happens to that request, and ends early only when the
// Controller closes. Called with c.mu held, so commands start in the
// order their updates were applied; they run one at a time.
func (c *Controller) start(cmd *federation.Command, known Command) *execution {
	c.xmu.Lock()
	defer c.xmu.Unlock()
	if x := c.running[cmd.ID]; x != nil {
		c.log.Info("command still running; not starting it again", "id", cmd.ID, "type", cmd.Type)
		return x
	}
	if o, ok := c.ledger.get(cmd.ID); ok {
		o.Repeated = true
		c.log.Info("command already ran; not running it again", "id", cmd.ID, "type", cmd.Type, "ok", o.OK)
		return finished(o)
	}
	o := Outcome{ID: cmd.ID, Type: cmd.Type, Started: time.Now().UTC(), IssuedAt: cmd.IssuedAt, Error: "interrupted: the neuron stopped while it ran"}
	if c.runCtx.Err() != nil {
		o.Error = "not run: the neuron is stopping"
		return finished(o)
	}
	if horizon, stale := c.ledger.stale(cmd.IssuedAt); stale {
		o.Error = fmt.Sprintf("not run: issued at %s, no later than commands this neuron no longer remembers (its ledger keeps the last %d, back to %s): it may have run already; send it again with a new id to run it",
			cmd.IssuedAt.Format(time.RFC3339Nano), maxLedger, horizon.Format(time.RFC3339Nano))
		c.log.Warn("command refused: older than the command ledger's window", "id", cmd.ID, "type", cmd.Type, "issued_at", cmd.IssuedAt, "horizon", horizon)
		c.emit(EventCommandExecuted, o)
		return finished(o)
	}
	// Recorded before it runs: a crash mid-command must not run it twice.
	if err := c.ledger.put(o); err != nil {
		c.log.Error("command ledger not written; the command may run again after a restart", "err", err)
	}
	x := &execution{started: o.Started, done: make(chan struct{})}
	c.running[cmd.ID] = x
	c.runs.Add(1)
	go c.execute(x, cmd, known, o)
	return x
}

// execute runs the command to its end, records and reports the outcome.
func (c *Controller) execute(x *execution, cmd *federation.Command, known Command, o Outcome) {
	defer c.runs.Done()
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	timeout := known.Timeout
	if timeout <= 0 {
		timeout = DefaultCommandTimeout
	}
	ctx, cancel := context.WithTimeout(c.runCtx, timeout)
	defer cancel()
	result, err := known.Run(ctx, cmd.Data)
	o.Duration = float64(time.Since(o.Started).Microseconds()) / 1000
	o.OK, o.Result, o.Error = err == nil, result, ""
	switch {
	case err != nil && c.runCtx.Err() != nil:
		o.Error = "interrupted: the neuron stopped while it ran: " + err.Error()
	case err != nil && ctx.Err() != nil:
		o.Error = "timed out after " + timeout.String() + ": " + err.Error()
	case err != nil:
		o.Error = err.Error()
	}
	if err != nil {
		c.log.Warn("command failed", "id", cmd.ID, "type", cmd.Type, "err", o.Error)
	} else {
		c.log.Info("command executed", "id", cmd.ID, "type", cmd.Type, "took_ms", o.Duration)
	}
	if err := c.ledger.put(o); err != nil {
		c.log.Error("command ledger not written", "err", err)
	}
	c.emit(EventCommandExecuted, o)
	c.xmu.Lock()
	delete(c.running, cmd.ID)
	x.outcome = o
	close(x.done)
	c.xmu.Unlock()
}

// await returns x's outcome once it ended, or, after AnswerWait or when
// ctx (the request) ends first, an outcome saying it runs on.
func (c *Controller) await(ctx context.Context, cmd *federation.Command, x *execution) Outcome {
	t := time.NewTimer(c.opts.AnswerWait)
	defer t.Stop()
	select {
	case <-x.done:
		return x.outcome
	case <-ctx.Done():
	case <-t.C:
	}
	c.log.Info("command still running; its outcome follows in a command_executed event", "id", cmd.ID, "type", cmd.Type)
	return Outcome{ID: cmd.ID, Type: cmd.Type, Started: x.started, Running: true}
}

// Close stops the commands still running (their context ends; each
// reports its outcome, "interrupted") and waits for them, at most until
// ctx ends. Commands delivered after Close do not run.
func (c *Controller) Close(ctx context.Context) error {
	c.xmu.Lock()
	c.stopRuns()
	c.xmu.Unlock()
	done := make(chan struct{})
	go func() {
		c.runs.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.New("commands still running at shutdown: their outcome is recorded as interrupted")
	}
}
