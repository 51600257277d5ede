package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/experiment"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// target records what the controller applies. The runtime's SetDynamic is
// tested in the runtime package and end to end in the agent.
type target struct {
	mu      sync.Mutex
	applied []runtime.Dynamic
	fail    error
	procs   []runtime.ProcessorInfo // what Processors answers
}

func (t *target) Processors() []runtime.ProcessorInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.procs
}

func (t *target) SetDynamic(d runtime.Dynamic) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fail != nil {
		return t.fail
	}
	t.applied = append(t.applied, d)
	return nil
}

// The split experiments' path is tested with the real runtime in
// internal/agent; here they are accepted and do nothing.
func (t *target) SetExperiment(context.Context, *experiment.Split, []runtime.ExperimentVariant) error {
	return nil
}
func (t *target) StopExperiment(string) error                      { return nil }
func (t *target) Experiments() []runtime.ExperimentInfo            { return nil }
func (t *target) PinVersion(context.Context, string, string) error { return nil }

func (t *target) last() runtime.Dynamic {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.applied) == 0 {
		return runtime.Dynamic{}
	}
	return t.applied[len(t.applied)-1]
}

type env struct {
	c      *Controller
	target *target
	level  *slog.LevelVar
	mu     *sync.Mutex // guards *events: commands emit from their own goroutine
	events *[]federation.Event
	ran    *[]string
}

// newEnv starts a Controller on dir; each of with changes its Options.
func newEnv(t *testing.T, dir string, with ...func(*Options)) env {
	t.Helper()
	tg := &target{}
	level := new(slog.LevelVar)
	mu := &sync.Mutex{}
	events := &[]federation.Event{}
	ran := &[]string{}
	cmds := Builtins(workers{ran}, func(context.Context) error { *ran = append(*ran, "flush"); return nil })
	cmds["fail"] = Command{Run: func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("boom") }}
	opts := Options{
		DataDir:  dir,
		Settings: map[string]any{"region": "eu", "batchSize": int64(100)},
		Plugins:  map[string]map[string]any{"data-processor": {"dedupe": true}},
		Runtime:  tg, Level: level, BaseLevel: slog.LevelInfo, CallTimeout: 5 * time.Second,
		Commands: cmds,
		Events: func(e federation.Event) {
			mu.Lock()
			defer mu.Unlock()
			*events = append(*events, e)
		},
	}
	for _, w := range with {
		w(&opts)
	}
	c, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return env{c, tg, level, mu, events, ran}
}

type workers struct{ ran *[]string }

func (w workers) RestartWorkers(_ context.Context, sel string, graceful bool) (int, error) {
	if sel == "nope" {
		return 0, errors.New(`unknown worker "nope"`)
	}
	*w.ran = append(*w.ran, "restart "+sel)
	return 2, nil
}

func update(t *testing.T, s string) federation.Update {
	t.Helper()
	u, err := federation.ParseUpdate([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return u
}

func (e env) types() []string {
	var out []string
	for _, ev := range e.emitted() {
		out = append(out, ev.Type)
	}
	return out
}

// emitted returns the events emitted so far.
func (e env) emitted() []federation.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(*e.events)
}

func TestApplyValid(t *testing.T) {
	e := newEnv(t, t.TempDir())
	res, err := e.c.Apply(context.Background(), update(t, `{"config": {"batchSize": 1000, "maxRetries": 3, "timeoutSeconds": 2.5,
		"enableDebugMode": true, "region": "us", "plugins": {"data-processor": {"dedupe": false}}}, "version": "v7"}`), "push")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Applied || res.ConfigVersion != "v7" {
		t.Fatalf("result %+v", res)
	}
	d := e.target.last()
	if d.Settings["batchSize"] != int64(1000) || d.Settings["region"] != "us" || d.Settings["maxRetries"] != int64(3) {
		t.Errorf("settings %v", d.Settings)
	}
	if d.Plugins["data-processor"]["dedupe"] != false {
		t.Errorf("plugins %v", d.Plugins)
	}
	if d.CallTimeout != 2500*time.Millisecond {
		t.Errorf("call timeout %v, want 2.5s from timeoutSeconds", d.CallTimeout)
	}
	if e.level.Level() != slog.LevelDebug {
		t.Errorf("enableDebugMode did not set the log level: %v", e.level.Level())
	}
	if got := e.types(); len(got) != 1 || got[0] != EventConfigApplied {
		t.Errorf("events %v", got)
	}
	if e.c.Version() != "v7" {
		t.Errorf("version %q", e.c.Version())
	}
}

func TestRejectedWhole(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"unknown key", `{"config": {"batchSize": 10, "bathSize": 5}}`, "config.bathSize: unknown key"},
		{"wrong type of declared key", `{"config": {"region": 5}}`, "config.region: must be a string"},
		{"runtime key out of range", `{"config": {"timeoutSeconds": -1}}`, "timeoutSeconds"},
		{"runtime key wrong type", `{"config": {"enableDebugMode": "yes"}}`, "enableDebugMode"},
		{"plugins not an object", `{"config": {"plugins": [1]}}`, "config.plugins must be an object"},
		{"unknown plugin key", `{"config": {"plugins": {"data-processor": {"x": 1}}}}`, "config.plugins.data-processor.x: unknown key"},
		{"unknown command", `{"config": {"batchSize": 10}, "command": {"id": "c1", "type": "reboot"}}`, `unknown type "reboot"; this neuron runs fail, flush_analytics, restart_worker, set_log_level`},
		{"bad command data", `{"command": {"id": "c2", "type": "set_log_level", "data": {"level": "loud"}}}`, `data.level "loud"`},
		{"experiment without variant", `{"experiment": {"id": "e1"}}`, "variant is required"},
		{"experiment split", `{"experiment": {"id": "e1", "variant": "b", "plugin": "p", "variants": [{"name": "a", "weight": 100}]}}`, "variant and config belong to the reference form"},
		{"experiment split invalid", `{"experiment": {"id": "e1", "plugin": "p", "variants": [{"name": "a", "weight": 90}, {"name": "b", "weight": 20}]}}`, "weights sum to 110"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, t.TempDir())
			_, err := e.c.Apply(context.Background(), update(t, tc.body), "push")
			var rej *RejectedError
			if !errors.As(err, &rej) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a rejection containing %q", err, tc.want)
			}
			if len(e.target.applied) != 0 || len(*e.ran) != 0 {
				t.Errorf("something applied or ran: %v %v", e.target.applied, *e.ran)
			}
			if got := e.types(); len(got) != 1 || got[0] != EventConfigRejected {
				t.Errorf("events %v, want one config_rejected", got)
			}
		})
	}
}

func TestSameVersionIsNoOp(t *testing.T) {
	e := newEnv(t, t.TempDir())
	ctx := context.Background()
	// Unversioned: the content is the version, so a poll that returns the
	// same config every 30 s applies it once.
	for range 3 {
		if _, err := e.c.Apply(ctx, update(t, `{"batchSize": 5}`), "poll"); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.target.applied) != 1 {
		t.Fatalf("applied %d times, want 1", len(e.target.applied))
	}
	res, _ := e.c.Apply(ctx, update(t, `{"config": {"batchSize": 6}, "version": "a"}`), "push")
	res2, _ := e.c.Apply(ctx, update(t, `{"config": {"batchSize": 7}, "version": "a"}`), "push")
	if !res.Applied || res2.Applied || !res2.Unchanged || len(e.target.applied) != 2 {
		t.Errorf("explicit version: %+v then %+v, applied %d", res, res2, len(e.target.applied))
	}
}

func TestLastGoodConfigSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir)
	ctx := context.Background()
	if _, err := e.c.Apply(ctx, update(t, `{"config": {"batchSize": 42, "region": "ap", "plugins": {"data-processor": {"dedupe": false}}},
		"experiment": {"id": "exp-1", "variant": "big", "config": {"batchSize": 1500}}, "version": "v3"}`), "poll"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Apply(ctx, update(t, `{"config": {"nope": 1}, "version": "v4"}`), "poll"); err == nil {
		t.Fatal("bad update accepted")
	}
	again := newEnv(t, dir) // a restart with the federation down
	d := again.target.last()
	if again.c.Version() != "v3" || d.Settings["batchSize"] != int64(1500) || d.Settings["region"] != "ap" ||
		d.Plugins["data-processor"]["dedupe"] != false {
		t.Fatalf("after restart: version %q, dynamic %+v", again.c.Version(), d)
	}
	if again.c.State().Experiment == nil || again.c.State().Experiment.Variant != "big" {
		t.Errorf("experiment lost: %+v", again.c.State())
	}
}

func TestExperimentOverlayAndStop(t *testing.T) {
	e := newEnv(t, t.TempDir())
	ctx := context.Background()
	if _, err := e.c.Apply(ctx, update(t, `{"config": {"batchSize": 1000},
		"experiment": {"id": "exp-001", "variant": "optimized_batch_size", "config": {"batchSize": 1500}}}`), "push"); err != nil {
		t.Fatal(err)
	}
	if got := e.target.last().Settings["batchSize"]; got != int64(1500) {
		t.Fatalf("batchSize %v, want the variant's 1500", got)
	}
	if _, err := e.c.Apply(ctx, update(t, `{"experiment": {"id": "exp-001", "stop": true}}`), "push"); err != nil {
		t.Fatal(err)
	}
	if got := e.target.last().Settings["batchSize"]; got != int64(1000) {
		t.Fatalf("batchSize %v after stop, want the base 1000", got)
	}
}

func TestCommandsRunOnce(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir)
	ctx := context.Background()
	cmd := `{"command": {"id": "cmd-1", "type": "restart_worker", "data": {"workerId": "data-processor", "graceful": true}}}`
	res, err := e.c.Apply(ctx, update(t, cmd), "push")
	if err != nil || res.Command == nil || !res.Command.OK || res.Command.Repeated {
		t.Fatalf("first run: %+v %v", res.Command, err)
	}
	res, _ = e.c.Apply(ctx, update(t, cmd), "poll")
	if !res.Command.Repeated {
		t.Errorf("second run not marked repeated: %+v", res.Command)
	}
	again := newEnv(t, dir) // the ledger is on disk
	res, _ = again.c.Apply(ctx, update(t, cmd), "poll")
	if !res.Command.Repeated {
		t.Errorf("ran again after a restart: %+v", res.Command)
	}
	if len(*e.ran) != 1 || (*e.ran)[0] != "restart data-processor" || len(*again.ran) != 0 {
		t.Errorf("ran %v and %v, want one restart", *e.ran, *again.ran)
	}
	executed := 0
	for _, ev := range e.emitted() {
		if ev.Type == EventCommandExecuted {
			executed++
		}
	}
	if executed != 1 {
		t.Errorf("%d command_executed events, want 1", executed)
	}

	res, err = e.c.Apply(ctx, update(t, `{"command": {"id": "cmd-2", "type": "fail"}}`), "push")
	if err != nil || res.Command.OK || res.Command.Error != "boom" {
		t.Errorf("failing command: %+v %v", res.Command, err)
	}
	res, _ = e.c.Apply(ctx, update(t, `{"command": {"id": "cmd-3", "type": "set_log_level", "data": {"level": "error"}}}`), "push")
	if !res.Command.OK || e.level.Level() != slog.LevelError {
		t.Errorf("set_log_level: %+v, level %v", res.Command, e.level.Level())
	}
	res, _ = e.c.Apply(ctx, update(t, `{"command": {"id": "cmd-4", "type": "flush_analytics"}}`), "push")
	if !res.Command.OK || (*e.ran)[len(*e.ran)-1] != "flush" {
		t.Errorf("flush_analytics: %+v, ran %v", res.Command, *e.ran)
	}
}

func TestRuntimeRefusalRejects(t *testing.T) {
	e := newEnv(t, t.TempDir())
	e.target.fail = errors.New("settings not encodable")
	_, err := e.c.Apply(context.Background(), update(t, `{"batchSize": 3}`), "push")
	if err == nil || !strings.Contains(err.Error(), "settings not encodable") || e.c.Version() != "" {
		t.Fatalf("err %v, version %q", err, e.c.Version())
	}
}

func TestRepeatedRejectionReportedOnce(t *testing.T) {
	e := newEnv(t, t.TempDir())
	for range 3 { // a poll returning the same bad config every interval
		if _, err := e.c.Apply(context.Background(), update(t, `{"config": {"nope": 1}}`), "poll"); err == nil {
			t.Fatal("accepted")
		}
	}
	if got := e.types(); len(got) != 1 {
		t.Errorf("events %v, want one config_rejected", got)
	}
	if _, err := e.c.Apply(context.Background(), update(t, `{"config": {"nope": 2}}`), "poll"); err == nil {
		t.Fatal("accepted")
	}
	if got := e.types(); len(got) != 2 {
		t.Errorf("events %v, want a second config_rejected for a different update", got)
	}
}

// The reference guide's own update: its command has no id, so its content
// is its id, and polling it again does not run it again.
func TestReferenceUpdate(t *testing.T) {
	e := newEnv(t, t.TempDir())
	body, err := os.ReadFile("../../federation/testdata/update.json")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		res, err := e.c.Apply(context.Background(), update(t, string(body)), "poll")
		if err != nil || res.Command == nil || !res.Command.OK || res.Command.Repeated != (i == 1) {
			t.Fatalf("apply %d: %+v %+v %v", i, res, res.Command, err)
		}
	}
	if got := e.target.last().Settings["batchSize"]; got != int64(1500) {
		t.Errorf("batchSize %v, want the experiment's 1500", got)
	}
	if len(*e.ran) != 1 || (*e.ran)[0] != "restart worker-3" {
		t.Errorf("ran %v, want one restart of worker-3", *e.ran)
	}
}

// set_log_level outlasts a config without enableDebugMode; enableDebugMode
// still forces debug.
func TestLogLevel(t *testing.T) {
	e := newEnv(t, t.TempDir())
	ctx := context.Background()
	steps := []struct {
		body string
		want slog.Level
	}{
		{`{"command": {"id": "l1", "type": "set_log_level", "data": {"level": "warn"}}}`, slog.LevelWarn},
		{`{"config": {"batchSize": 5}}`, slog.LevelWarn},
		{`{"config": {"batchSize": 5, "enableDebugMode": true}}`, slog.LevelDebug},
		{`{"config": {"batchSize": 5, "enableDebugMode": false}}`, slog.LevelWarn},
	}
	for _, st := range steps {
		if _, err := e.c.Apply(ctx, update(t, st.body), "push"); err != nil {
			t.Fatal(err)
		}
		if got := e.level.Level(); got != st.want {
			t.Errorf("after %s: level %v, want %v", st.body, got, st.want)
		}
	}
}

// A command runs under its own context, not the request's: it goes on
// when the request that delivered it ends, the answer says it runs on,
// its outcome comes in a command_executed event, the same id delivered
// meanwhile joins that run, and Close stops it (reported interrupted).
func TestCommandOutlivesRequest(t *testing.T) {
	e := newEnv(t, t.TempDir())
	started, finish := make(chan struct{}), make(chan struct{})
	var runs int
	e.c.opts.Commands["slow"] = Command{Run: func(ctx context.Context, _ json.RawMessage) (any, error) {
		runs++
		close(started)
		select {
		case <-finish:
			return "done", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}}
	e.c.opts.Commands["stuck"] = Command{Run: func(ctx context.Context, _ json.RawMessage) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	req, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }() // the federation gives up on its push
	res, err := e.c.Apply(req, update(t, `{"command": {"id": "cmd-slow", "type": "slow"}}`), "push")
	if err != nil || res.Command == nil || !res.Command.Running {
		t.Fatalf("answer %+v %v, want the command running", res.Command, err)
	}
	again, _ := e.c.Apply(context.Background(), update(t, `{"command": {"id": "cmd-slow", "type": "slow"}}`), "poll")
	if again.Command == nil || !again.Command.Running || again.Command.Repeated {
		t.Errorf("the same id while it runs: %+v, want the run in progress", again.Command)
	}
	close(finish)
	executed := func(id string) (Outcome, bool) {
		for _, ev := range e.emitted() {
			var o Outcome
			if ev.Type == EventCommandExecuted && json.Unmarshal(ev.Data, &o) == nil && o.ID == id {
				return o, true
			}
		}
		return Outcome{}, false
	}
	testutil.Eventually(t, time.Minute, "the slow command's outcome", func() bool { _, ok := executed("cmd-slow"); return ok })
	if o, _ := executed("cmd-slow"); !o.OK || o.Result != "done" || runs != 1 {
		t.Errorf("outcome %+v after %d runs, want one run that ended ok", o, runs)
	}

	res, _ = e.c.Apply(context.Background(), update(t, `{"command": {"id": "cmd-stuck", "type": "stuck"}}`), "push")
	if !res.Command.Running {
		t.Fatalf("answer %+v, want running", res.Command)
	}
	if err := e.c.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if o, ok := executed("cmd-stuck"); !ok || o.OK || !strings.Contains(o.Error, "interrupted: the neuron stopped") {
		t.Errorf("outcome after Close %+v, want interrupted", o)
	}
	res, _ = e.c.Apply(context.Background(), update(t, `{"command": {"id": "cmd-late", "type": "flush_analytics"}}`), "push")
	if res.Command.OK || !strings.Contains(res.Command.Error, "stopping") {
		t.Errorf("a command after Close: %+v, want not run", res.Command)
	}
}

// A neuron that restarts (or registers again) and is served an update it
// refused before does not report it again: no second config_rejected, and
// the error says it is a repeat. A new revision of it is reported, and
// the refused one still applies once it has become valid.
func TestRefusalRememberedAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	const bad = `{"config": {"colour": "red"}, "version": "fed-1"}`
	first := newEnv(t, dir)
	if _, err := first.c.Apply(context.Background(), update(t, bad), "push"); err == nil {
		t.Fatal("accepted an undeclared key")
	}
	again := newEnv(t, dir) // the restart
	_, err := again.c.Apply(context.Background(), update(t, bad), "poll")
	rej, ok := errors.AsType[*RejectedError](err)
	if !ok || !rej.Repeated {
		t.Errorf("the refused update served again: %v, want a repeated rejection", err)
	}
	if got := again.types(); len(got) != 0 {
		t.Errorf("events after the restart %v, want none: it was reported before", got)
	}
	_, err = again.c.Apply(context.Background(), update(t, `{"config": {"colour": "red"}, "version": "fed-2"}`), "poll")
	if rej, ok := errors.AsType[*RejectedError](err); !ok || rej.Repeated {
		t.Errorf("a new revision: %v, want a rejection reported", err)
	}
	if got := again.types(); len(got) != 1 || got[0] != EventConfigRejected {
		t.Errorf("events %v, want one config_rejected for the new revision", got)
	}
}

// A command id the ledger forgot cannot run again: a command issued no
// later than the newest one forgotten is refused, across a restart too,
// while newer ones and those without an issue time run. The ledger of
// the first form (the commands alone) is still read.
func TestLedgerWindow(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir)
	e.c.ledger.max = 3
	ctx := context.Background()
	t0 := time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)
	flush := func(e env, id string, issued time.Time) *Outcome {
		t.Helper()
		at := ""
		if !issued.IsZero() {
			at = fmt.Sprintf(`, "issuedAt": %q`, issued.Format(time.RFC3339Nano))
		}
		res, err := e.c.Apply(ctx, update(t, fmt.Sprintf(`{"command": {"id": %q, "type": "flush_analytics"%s}}`, id, at)), "push")
		if err != nil || res.Command == nil {
			t.Fatalf("%s: %+v %v", id, res, err)
		}
		return res.Command
	}
	for i, id := range []string{"a", "b", "c", "d"} { // "d" pushes "a" out
		if o := flush(e, id, t0.Add(time.Duration(i+1)*time.Second)); !o.OK {
			t.Fatalf("%s: %+v", id, o)
		}
	}
	ran := len(*e.ran)
	for _, tc := range []struct {
		name, id string
		issued   time.Time
	}{
		{"the forgotten id again", "a", t0.Add(time.Second)},
		{"a new id issued before the horizon", "z", t0.Add(500 * time.Millisecond)},
	} {
		if o := flush(e, tc.id, tc.issued); o.OK || o.Repeated || !strings.Contains(o.Error, "not run: issued at") {
			t.Errorf("%s: %+v, want refused as older than the window", tc.name, o)
		}
	}
	if len(*e.ran) != ran {
		t.Fatalf("refused commands ran: %v", (*e.ran)[ran:])
	}
	if o := flush(e, "e", t0.Add(5*time.Second)); !o.OK {
		t.Errorf("a newer command: %+v", o)
	}
	if o := flush(e, "f", time.Time{}); !o.OK {
		t.Errorf("a command without issuedAt: %+v", o)
	}

	again := newEnv(t, dir) // the horizon is on disk
	if o := flush(again, "a", t0.Add(time.Second)); o.OK || !strings.Contains(o.Error, "not run") {
		t.Errorf("after a restart: %+v, want refused", o)
	}

	old := t.TempDir() // a ledger of the first form
	if err := os.MkdirAll(filepath.Join(old, "control"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "control", "commands.json"), []byte(`{"x": {"id": "x", "type": "flush_analytics", "ok": true, "started": "2026-12-01T00:00:00Z", "durationMs": 1}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if o := flush(newEnv(t, old), "x", time.Time{}); !o.Repeated {
		t.Errorf("a command of the first-form ledger ran again: %+v", o)
	}
}
