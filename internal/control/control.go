// Package control is the one path by which federation updates (config,
// experiment, command) reach a running neuron, whether pulled from
// GET /api/neuron/config or pushed to POST /api/neuron/update-config.
//
// An update is validated whole before anything changes: one bad key and
// nothing of it applies, and the reason goes back in the answer and in a
// config_rejected event. A valid config is applied in one atomic step (the
// runtime's Dynamic), persisted as the last good config (used at the next
// start even if the federation is down) and reported by a config_applied
// event and by configVersion in the next heartbeat. The same version twice
// is a no-op. A command runs at most once per id, even across restarts.
// It changes a running neuron only through the runtime's methods it is
// given (Target, Plugins) and, for load_plugin, by writing a module into
// the plugins directory for the runtime to load; its own state lives under
// DataDir/control. It neither polls the federation nor sends to it:
// updates reach it from the Link, through the agent, and through its
// Handler, which the HTTP server mounts; its events leave through
// Options.Events.
package control

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/runtime"
)

// Event types the controller records.
const (
	EventConfigApplied   = "config_applied"
	EventConfigRejected  = "config_rejected"
	EventCommandExecuted = "command_executed"
)

// Target is what a config acts on: the processor runtime. Its Processors
// are what an update is checked against: the settings each loaded
// processor declares.
type Target interface {
	SetDynamic(runtime.Dynamic) error
	Processors() []runtime.ProcessorInfo
	ExperimentTarget
}

// Options configure a Controller.
type Options struct {
	// DataDir holds the last good config and the command ledger, under
	// DataDir/control.
	DataDir string
	// Settings and Plugins are the local configuration's layer (file,
	// environment, flags); federation updates lay over them, and may only
	// set keys declared there, keys the loaded processors declare (under
	// plugins.NAME) or the runtime's own keys.
	Settings map[string]any
	Plugins  map[string]map[string]any
	// Pinned are the keys no federation update may set (the config file's
	// pinnedSettings): "KEY", "plugins.NAME.KEY" or "plugins.NAME.*".
	Pinned []string
	// CallTimeout is the configured call timeout, used when no update sets
	// timeoutSeconds. Zero leaves each processor's own.
	CallTimeout time.Duration
	// RateLimits are the configured rate limits (rateLimit, rateBurst,
	// rateLimits.NAME), each replaced by the settings key of the same
	// name when one is set.
	RateLimits runtime.RateLimits
	// Runtime receives every applied config and experiment.
	Runtime Target
	// Guardrails are the default guardrails of a traffic-splitting
	// experiment that sets none: the neuron's alertThresholds.
	Guardrails federation.Guardrails
	// Level is the logger's level: enableDebugMode and set_log_level set
	// it; BaseLevel is the configured level a config without
	// enableDebugMode returns to, until set_log_level changes that.
	Level     *slog.LevelVar
	BaseLevel slog.Level
	// Commands are the command types this neuron runs, by type.
	Commands map[string]Command
	// AnswerWait is how long Apply waits for a command's outcome before
	// it answers that the command runs on; default DefaultAnswerWait.
	AnswerWait time.Duration
	// Events receives config_applied, config_rejected and command_executed.
	Events func(federation.Event)
	Logger *slog.Logger
}

// Controller applies updates. Its methods are safe for concurrent use;
// applies are serialized.
type Controller struct {
	opts   Options
	log    *slog.Logger
	check  validator
	state  atomic.Pointer[State]
	mu     sync.Mutex // serializes Apply
	ledger *ledger
	file   string
	// refused remembers the updates rejected; baseLevel is the level
	// without enableDebugMode. Both are guarded by mu.
	refused   *refusals
	baseLevel slog.Level

	// Commands run detached from the request that delivered them, one at
	// a time (cmdMu), under runCtx, which Close ends (stopRuns).
	runCtx   context.Context
	stopRuns context.CancelFunc
	cmdMu    sync.Mutex
	runs     sync.WaitGroup
	xmu      sync.Mutex            // guards running
	running  map[string]*execution // by command id, while it runs
}

// State is the federation's layer as last applied.
type State struct {
	// Version identifies the applied config: the update's version, or a
	// digest of its content when it has none.
	Version    string                 `json:"version"`
	Config     layer                  `json:"config"`
	Experiment *federation.Experiment `json:"experiment,omitempty"`
	Overlay    layer                  `json:"overlay"` // the experiment's config
	Source     string                 `json:"source"`
	Applied    time.Time              `json:"applied"`
}

// Result is what an update did, as the push endpoint answers it.
type Result struct {
	// Applied is true when the config changed; Unchanged when the update
	// carried the version already applied.
	Applied       bool     `json:"applied"`
	Unchanged     bool     `json:"unchanged,omitempty"`
	ConfigVersion string   `json:"configVersion"`
	Command       *Outcome `json:"command,omitempty"`
}

// RejectedError is an update refused whole, with every reason. Repeated
// is true when the same update was refused for the same reasons before
// (an earlier poll, or before the neuron restarted or registered again):
// it was reported then, and is not again.
type RejectedError struct {
	Reasons  []error
	Repeated bool
}

func (e *RejectedError) Error() string {
	return "update rejected: " + errors.Join(e.Reasons...).Error()
}

// New returns a Controller, and applies the last good config persisted in
// DataDir if there is one (so a restart serves it even if the federation is
// down). A persisted config that no longer validates against the local
// config (a key now pinned, a declared key of another type) is logged and
// skipped. The processors are not loaded yet: the keys it sets that only a
// processor declares are kept as they were accepted.
func New(ctx context.Context, opts Options) (*Controller, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Events == nil {
		opts.Events = func(federation.Event) {}
	}
	if opts.AnswerWait <= 0 {
		opts.AnswerWait = DefaultAnswerWait
	}
	dir := filepath.Join(opts.DataDir, "control")
	ledger, err := openLedger(filepath.Join(dir, "commands.json"))
	if err != nil {
		return nil, err
	}
	c := &Controller{opts: opts, log: opts.Logger, check: validator{settings: opts.Settings, plugins: opts.Plugins, pinned: newPins(opts.Pinned), guardrails: opts.Guardrails},
		ledger: ledger, file: filepath.Join(dir, "config.json"), baseLevel: opts.BaseLevel, running: map[string]*execution{}}
	c.runCtx, c.stopRuns = context.WithCancel(context.WithoutCancel(ctx))
	if c.refused, err = openRefusals(filepath.Join(dir, "refused.json")); err != nil {
		c.log.Warn("refused updates unreadable; one refused before may be reported once more", "err", err)
	}
	c.opts.Commands = maps.Clone(opts.Commands)
	if c.opts.Commands == nil {
		c.opts.Commands = map[string]Command{}
	}
	c.opts.Commands["set_log_level"] = c.setLogLevel()
	c.state.Store(&State{})
	var last State
	switch found, err := readJSON(c.file, &last); {
	case err != nil:
		c.log.Warn("last good config unreadable; starting from the local config", "file", c.file, "err", err)
	case found:
		if err := c.restore(last); err != nil {
			c.log.Warn("last good config no longer valid against the local config; starting without it", "version", last.Version, "err", err)
		} else {
			c.log.Info("last good config applied", "version", last.Version, "applied", last.Applied)
		}
	}
	return c, nil
}

func (c *Controller) restore(s State) error {
	cfg, errs := c.check.config("config", toAny(s.Config))
	if s.Experiment != nil {
		overlay, eerrs := c.check.experiment(s.Experiment)
		errs = append(errs, eerrs...)
		s.Overlay = overlay
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	s.Config = cfg
	return c.install(&s)
}

// ResumeExperiment starts the traffic-splitting experiment of the last good
// config restored by New, once the runtime serves its processors (New runs
// before they load). An experiment that cannot start (its versions are
// gone) is logged and dropped; the rest of the config stays applied.
func (c *Controller) ResumeExperiment(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.state.Load()
	if !isSplit(s.Experiment) {
		return
	}
	if err := c.installSplit(ctx, nil, s, nil); err != nil {
		c.log.Warn("the experiment of the last good config could not start; serving without it", "experiment", s.Experiment.ID, "err", err)
		next := *s
		next.Experiment = nil
		c.state.Store(&next)
		return
	}
	c.log.Info("experiment of the last good config resumed", "experiment", s.Experiment.ID)
}

// State returns the federation layer applied now.
func (c *Controller) State() *State { return c.state.Load() }

// Version returns the applied config's version, "" before any update.
func (c *Controller) Version() string { return c.state.Load().Version }

// Apply validates u whole, applies its config and experiment atomically if
// they differ from what is applied, then starts its command and waits for
// its outcome, at most AnswerWait or until ctx ends: a command runs on
// under its own timeout whatever happens to ctx (the request that
// delivered it), and its outcome is reported in a command_executed event;
// the Result says Running meanwhile. source says where the update came
// from ("push", "poll") for logs and events. A *RejectedError means
// nothing was applied.
func (c *Controller) Apply(ctx context.Context, u federation.Update, source string) (Result, error) {
	res, x, err := c.apply(ctx, u, source)
	if err != nil || x == nil {
		return res, err
	}
	o := c.await(ctx, u.Command, x)
	res.Command = &o
	return res, nil
}

// apply is Apply up to starting the command, serialized by c.mu.
func (c *Controller) apply(ctx context.Context, u federation.Update, source string) (Result, *execution, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.state.Load()
	next := *cur
	next.Source = source
	check := c.check
	check.loaded = declared(c.opts.Runtime.Processors())
	var errs []error
	if u.Config != nil {
		l, cerrs := check.config("config", u.Config)
		next.Config, errs = l, append(errs, cerrs...)
	}
	if e := u.Experiment; e != nil {
		overlay, eerrs := check.experiment(e)
		errs = append(errs, eerrs...)
		next.Experiment, next.Overlay = e, overlay
		if e.Stop {
			next.Experiment, next.Overlay = nil, layer{}
		}
	}
	var promo *promotion
	if e := u.Experiment; e != nil && e.Stop && len(errs) == 0 {
		p, err := c.stopSplit(e, cur, &next)
		if promo = p; err != nil {
			errs = append(errs, err)
		}
	}
	var cmd Command
	if u.Command != nil && u.Command.ID == "" {
		// The reference guide's commands have no id: the content is the id,
		// so a command polled every interval still runs once.
		c := *u.Command
		c.ID = digestOf(c)
		u.Command = &c
	}
	if u.Command != nil {
		var err error
		if cmd, err = c.command(u.Command); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		res, err := c.reject(u, source, errs)
		return res, nil, err
	}
	res, err := c.applyState(ctx, u, source, cur, &next, promo)
	if err != nil || u.Command == nil {
		return res, nil, err
	}
	return res, c.start(u.Command, cmd), nil
}

// applyState installs next, the config and experiment of u, unless u
// carries neither or the version applied now (unchanged).
func (c *Controller) applyState(ctx context.Context, u federation.Update, source string, cur, next *State, promo *promotion) (Result, error) {
	res := Result{ConfigVersion: cur.Version}
	if u.Config != nil || u.Experiment != nil {
		next.Version = u.Version
		if next.Version == "" {
			next.Version = digest(next.Config, next.Experiment)
		}
		if next.Version == cur.Version {
			res.Unchanged = true
		} else {
			next.Applied = time.Now().UTC()
			if err := c.installSplit(ctx, cur, next, promo); err != nil {
				return c.reject(u, source, []error{err})
			}
			if err := c.install(next); err != nil {
				return c.reject(u, source, []error{err})
			}
			if err := writeJSON(c.file, next); err != nil {
				c.log.Error("last good config not persisted; it applies now but not after a restart", "err", err)
			}
			c.log.Info("config applied", "version", next.Version, "source", source, "settings", len(next.Config.Settings))
			c.emit(EventConfigApplied, map[string]any{"version": next.Version, "source": source,
				"experiment": experimentID(next.Experiment)})
			res.Applied, res.ConfigVersion = true, next.Version
		}
	}
	return res, nil
}

func (c *Controller) reject(u federation.Update, source string, errs []error) (Result, error) {
	err := &RejectedError{Reasons: errs}
	// A poll returns the same bad update every interval, and a federation
	// may serve it again after the neuron registers anew or restarts:
	// report it once.
	key := rejectionKey(u, errs)
	if c.refused.seen(key) {
		err.Repeated = true
		c.log.Debug("update rejected again", "source", source, "version", u.Version)
		return Result{ConfigVersion: c.state.Load().Version}, err
	}
	if perr := c.refused.add(key); perr != nil {
		c.log.Error("refused update not remembered; it may be reported again after a restart", "err", perr)
	}
	c.log.Warn("update rejected", "source", source, "version", u.Version, "reason", errors.Join(errs...).Error())
	reasons := make([]string, len(errs))
	for i, e := range errs {
		reasons[i] = e.Error()
	}
	c.emit(EventConfigRejected, map[string]any{"version": u.Version, "source": source, "reasons": reasons})
	return Result{ConfigVersion: c.state.Load().Version}, err
}

// install hands the merged configuration to the runtime and the logger,
// then publishes s.
func (c *Controller) install(s *State) error {
	settings := merge(c.opts.Settings, s.Config.Settings, s.Overlay.Settings)
	plugins := map[string]map[string]any{}
	for _, l := range []map[string]map[string]any{c.opts.Plugins, s.Config.Plugins, s.Overlay.Plugins} {
		for name, m := range l {
			plugins[name] = merge(plugins[name], m)
		}
	}
	d := runtime.Dynamic{Settings: settings, Plugins: plugins, CallTimeout: c.opts.CallTimeout}
	if t, ok := settings["timeoutSeconds"]; ok {
		d.CallTimeout = time.Duration(toFloat(t) * float64(time.Second))
	}
	d.RateLimits = rateLimits(c.opts.RateLimits, settings)
	if err := c.opts.Runtime.SetDynamic(d); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if c.opts.Level != nil {
		level := c.baseLevel
		if debug, _ := settings["enableDebugMode"].(bool); debug {
			level = slog.LevelDebug
		}
		c.opts.Level.Set(level)
	}
	c.state.Store(s)
	return nil
}

func (c *Controller) emit(typ string, data any) {
	b, _ := json.Marshal(data)
	c.opts.Events(federation.Event{Type: typ, Timestamp: time.Now().UTC(), Data: b})
}

// digest identifies a config by content, so an unversioned config pulled
// every poll applies once.
func digest(cfg layer, e *federation.Experiment) string {
	return digestOf(struct {
		C layer
		E *federation.Experiment
	}{cfg, e})
}

// digestOf is a short content digest of v's JSON.
func digestOf(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// rejectionKey identifies a rejected update by its content and reasons.
func rejectionKey(u federation.Update, errs []error) string {
	b, _ := json.Marshal(u)
	sum := sha256.Sum256(append(b, errors.Join(errs...).Error()...))
	return hex.EncodeToString(sum[:])
}

func experimentID(e *federation.Experiment) string {
	if e == nil {
		return ""
	}
	return e.ID
}

func merge(layers ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, l := range layers {
		maps.Copy(out, l)
	}
	return out
}

// toAny turns a persisted layer back into the wire shape for revalidation.
func toAny(l layer) map[string]any {
	m := maps.Clone(l.Settings)
	if m == nil {
		m = map[string]any{}
	}
	if len(l.Plugins) > 0 {
		p := map[string]any{}
		for k, v := range l.Plugins {
			p[k] = v
		}
		m["plugins"] = p
	}
	return m
}

func toFloat(v any) float64 {
	switch t := v.(type) {
	case int64:
		return float64(t)
	case float64:
		return t
	}
	return 0
}
