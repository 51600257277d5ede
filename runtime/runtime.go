// Package runtime loads Wasm processors from a directory and serves the HTTP
// endpoints they declare.
//
// A Runtime compiles each module once (with a compilation cache on disk, so
// a restart compiles in milliseconds), keeps a pool of pre-initialized
// instances per processor version, and routes requests through an immutable
// snapshot of the processors loaded. A module that is not valid is rejected
// with a one-line reason in the log; every other processor serves.
//
// Sync is the one swap path: it makes the runtime serve what the plugins
// directory holds, swapping changed files in without dropping a call, and
// the commands (Reload, Unload, Rollback, Unpin) go through it too.
//
//	rt, err := runtime.New(ctx, runtime.Options{PluginsDir: "plugins", DataDir: ".neuron"})
//	if err != nil { ... }
//	defer rt.Close(ctx)
//	rt.Sync(ctx) // again whenever the directory changes
//	http.ListenAndServe(":8080", rt)
//
// This package is the public API and the swap path: Sync and the
// commands built on it (sync.go, swap.go, versions.go), the drain of a
// version that left (drain.go) and experiments (experiment.go). The parts
// behind it live in internal packages that do not import this one:
// internal/route (the routing snapshot and the request path),
// internal/processor (one loaded version: its code, its pool of
// instances, its counters), internal/modfile (a module file read,
// compiled, probed and its manifest checked), internal/guest (one Wasm
// instance and its call), internal/guestmem (guest memory and its counts),
// internal/codecache (the prepared and the kept compiled modules),
// internal/archive (the files of retired versions) and internal/pins (the
// pins and unloads that outlive a restart). docs/design.md, "How is the
// runtime laid out?", says what each owns. This package's name shadows
// the standard library's runtime: where both are needed, import that one
// as goruntime "runtime".
package runtime

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tetratelabs/wazero"

	"github.com/empirefederation/neuron/internal/archive"
	"github.com/empirefederation/neuron/internal/auth"
	"github.com/empirefederation/neuron/internal/codecache"
	"github.com/empirefederation/neuron/internal/limits"
	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/pins"
	"github.com/empirefederation/neuron/internal/processor"
	"github.com/empirefederation/neuron/internal/route"
	"github.com/empirefederation/neuron/internal/signature"
)

// Options configure a Runtime. The zero value of each field has a default.
type Options struct {
	// PluginsDir holds the *.wasm processors. Default "plugins".
	PluginsDir string
	// SourcesDir, when not "", is a second directory of *.wasm processors
	// scanned with PluginsDir by every sync, after it (so that a file of
	// PluginsDir wins a collision of routes): the processors pulled from
	// OCI registries (internal/sources), which the agent keeps in
	// DATA/sources. A SourcesDir that does not exist holds nothing.
	// Default "": none.
	SourcesDir string
	// DataDir holds the compilation cache (DataDir/cache), the directories
	// of processors granted the filesystem permission
	// (DataDir/plugins/NAME), the archive of retired versions
	// (DataDir/archive) and the pins and unloads that outlive a restart
	// (DataDir/runtime/pins.json). Default ".neuron".
	DataDir string
	// CacheDir holds compiled modules between runs. Default DataDir/cache.
	CacheDir string
	// Limits are every processor's defaults; zero fields take
	// limits.Default (lowered to MaxLimits where those are lower).
	Limits Limits
	// PluginLimits override Limits and the manifest for one processor, by name.
	PluginLimits map[string]Limits
	// MaxLimits are the most any processor may have; zero fields take
	// limits.DefaultMax, and none may exceed limits.HardMax. A manifest
	// asking for more is refused with a reason naming the limit; Limits
	// or PluginLimits above them make New fail.
	MaxLimits Limits
	// Settings is the flat runtime configuration every processor sees, until
	// SetDynamic replaces it.
	Settings map[string]any
	// Plugins holds each processor's own settings, by name; they are merged
	// over Settings into the configuration the processor reads. Settings and
	// Plugins are the runtime's first Dynamic.
	Plugins map[string]map[string]any
	// RateLimits are the processor endpoints' rate limits, per caller
	// (the client address) and per processor, until SetDynamic replaces
	// them; over one, a call is answered 429 "rate_limited" with
	// Retry-After before its body is read. Default: none.
	RateLimits RateLimits
	// AllowPermissions lists the permissions processors may be granted.
	AllowPermissions []string
	// Logger receives the runtime's and the processors' logs. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the runtime's metrics. Default a private registry.
	Registerer prometheus.Registerer
	// Events receives every event: processors loaded, swapped, unloaded,
	// rolled back and rejected, and events the processors emit. It must not
	// block. Default: none.
	Events func(Event)
	// DrainTimeout bounds how long a version that left the snapshot (its
	// file replaced or removed, Unload, Rollback) may finish its calls in
	// flight; past it they are interrupted and answer 503 "unloaded", and
	// the version is closed. Default 30s.
	DrainTimeout time.Duration
	// KeepVersions is how many replaced or unloaded versions of each
	// processor the archive (DataDir/archive/NAME) keeps for Rollback; the
	// oldest are deleted. Default 3.
	KeepVersions int
	// RequestBodyBudget bounds the bytes of request bodies held at once
	// across every endpoint, from the first byte read to the end of the
	// call; a request that would go beyond it is answered 503
	// "body_budget" with Retry-After, before its body is read. It also
	// caps every processor's MaxBodyBytes. Default
	// limits.DefaultRequestBodyBudget, at least limits.MinRequestBodyBudget.
	RequestBodyBudget int64
	// Prepared, when not nil, is a cache of prepared modules that this
	// Runtime shares with the others given the same one. Default: a cache
	// of the Runtime's own, so that two runtimes of one process neither
	// see nor evict each other's modules (see PreparedModules).
	Prepared *PreparedModules
	// RequestBodyTimeout bounds the reading of a request body, from the
	// moment its headers were read: a body still incomplete then is
	// answered 408 "body_timeout" and its connection closed. Default
	// limits.DefaultRequestBodyTimeout.
	RequestBodyTimeout time.Duration
	// Callers, when not nil, verifies the bearer token of every call of
	// an endpoint its manifest does not mark public: a call without a
	// token, or with one refused, is answered 401, one whose token lacks
	// the endpoint's scopes 403, before its body is read or a guest runs.
	// Nil takes calls from anyone.
	Callers *auth.Verifier
	// Trust, when not nil, are the public keys the runtime trusts: a
	// processor file loads only when its detached signature file
	// (NAME.wasm.sig beside it, see package signature) holds a signature
	// of its module and sidecar manifest by one of them, checked before
	// anything of it is compiled. A file unsigned or signed otherwise is
	// rejected like any file that fails (the version it would replace
	// keeps serving); so is an archived version opened for Rollback.
	// Several keys may be trusted at once, for rotation. Nil, the
	// default, loads every file unchecked.
	Trust *signature.Verifier
}

// PreparedModules is a cache of modules prepared for compiling (checked
// against the module budget, tables capped, data segments coalesced,
// instrumented for interruption), by the sha256 of their file, bounded to
// 64 MiB. Every Runtime has one; Runtimes of one process that load the
// same files (tests) may share one through Options.Prepared, so that each
// module is prepared once (about 0.1 s for a Go processor). Its methods
// are safe for concurrent use.
type PreparedModules struct{ c *codecache.Prepared }

// NewPreparedModules returns an empty cache of prepared modules.
func NewPreparedModules() *PreparedModules {
	return &PreparedModules{c: codecache.NewPrepared(codecache.PreparedBytes)}
}

// MaxModuleBytes is the largest module file the neuron reads.
const MaxModuleBytes = modfile.MaxBytes

// ValidName reports whether name may name a processor: 1-64 lower-case
// letters, digits, '.', '_' or '-', starting and ending with a letter or
// digit. `neuron plugin new` checks a new project's name with it.
func ValidName(name string) bool { return modfile.ValidName(name) }

// Event is something that happened to or in a processor, for analytics.
type Event struct {
	Type    string          `json:"type"`
	Time    time.Time       `json:"timestamp"`
	Plugin  string          `json:"plugin,omitempty"`
	Version string          `json:"version,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	// Guest is true for events a processor emitted itself.
	Guest bool `json:"-"`
}

// Event types the runtime emits. Every processor is named by name,
// version and the sha256 digest of its module; see docs/federation.md,
// "Events", for each type's data.
const (
	// EventPluginLoaded: a processor version was opened and takes part in
	// the snapshot. Data: digest, file, serving.
	EventPluginLoaded = "plugin_loaded"
	// EventPluginSwapped: another version took over a processor name's
	// routes. Data: from and to (NAME@VERSION), fromDigest, toDigest.
	EventPluginSwapped = "plugin_swapped"
	// EventPluginUnloaded: a version left the snapshot; it drains, then
	// closes. Data: version, digest, reason.
	EventPluginUnloaded = "plugin_unloaded"
	// EventPluginRolledBack: Rollback pinned a name to an earlier version.
	// Data: from and to (NAME@VERSION), fromDigest, toDigest.
	EventPluginRolledBack = "plugin_rolled_back"
	// EventPluginRejected: a file could not be loaded (it does not compile,
	// breaks the ABI, fails its self-test, collides with another
	// processor's routes); the version it would replace keeps serving.
	// Data: file, reason, digest when the file was read.
	EventPluginRejected = "plugin_rejected"
)

// Runtime serves the processors of one plugins directory. It is an
// http.Handler for their endpoints. Its methods are safe for concurrent use.
// Closing it closes every processor and frees their memory.
type Runtime struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	// svc are what the processor versions need of their runtime: the
	// caches, the guest memory, the run-time configuration, the records
	// of every NAME@VERSION.
	svc *processor.Services
	// srv is the request path: the snapshot serving now, draining, the
	// body budget.
	srv *route.Server
	// bg ends at Close (stop); drains run under it.
	bg context.Context
	// mu serializes every change of the snapshot (Sync and the commands
	// built on it) and Close; never taken by requests. It guards state
	// and rejected.
	mu     sync.Mutex
	closed atomic.Bool
	loaded atomic.Bool
	// stop ends bg at Close.
	stop context.CancelFunc

	// state is what operators asked for that outlives a restart: pins
	// (Rollback) and unloads (Unload). See internal/pins.
	state *pins.State
	// rejected remembers the files that failed to load, by path, so that a
	// Sync does not retry and report the same bytes again; Reload retries.
	rejected map[string]rejectedFile
	// archive keeps the files of retired versions for Rollback.
	archive *archive.Archive

	// retired are the processors out of the snapshot and still draining;
	// drains counts their goroutines, which Close waits for.
	retiredMu sync.Mutex
	retired   map[*processor.Version]struct{}
	drains    sync.WaitGroup

	// experiments are the experiments running, by processor name; the
	// map is replaced, never modified, as snapshots share it. checking is
	// set once the guardrail loop runs. Both guarded by mu.
	experiments map[string]*route.Experiment
	checking    bool
	// experimentEpochs numbers the experiments started; guarded by mu.
	// ended are the experiments that ended, oldest first (at most
	// MaxEndedExperiments), guarded by endedMu: read by the reports,
	// which must not wait for a sync holding mu.
	experimentEpochs uint64
	endedMu          sync.Mutex
	ended            []endedExperiment
}

// shrinkEvery and idleFor govern how a pool grown by a spike shrinks back.
const (
	shrinkEvery = 15 * time.Second
	idleFor     = time.Minute
)

// New returns a Runtime with opts, serving nothing until LoadDir.
func New(ctx context.Context, opts Options) (*Runtime, error) {
	if err := opts.checkLimits(); err != nil {
		return nil, err
	}
	dyn, err := processor.NewConfig(Dynamic{Settings: opts.Settings, Plugins: opts.Plugins, RateLimits: opts.RateLimits})
	if err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	opts.PluginsDir = cmp.Or(opts.PluginsDir, "plugins")
	opts.DataDir = cmp.Or(opts.DataDir, ".neuron")
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	cacheDir := cmp.Or(opts.CacheDir, filepath.Join(opts.DataDir, "cache"))
	if err := os.MkdirAll(cacheDir, 0o750); err != nil {
		return nil, fmt.Errorf("compilation cache: %w", err)
	}
	cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
	if err != nil {
		return nil, fmt.Errorf("compilation cache %s: %w", cacheDir, err)
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = limits.DefaultDrainTimeout
	}
	if opts.KeepVersions <= 0 {
		opts.KeepVersions = limits.DefaultKeepVersions
	}
	if opts.RequestBodyBudget == 0 {
		opts.RequestBodyBudget = limits.DefaultRequestBodyBudget
	}
	if opts.RequestBodyBudget < limits.MinRequestBodyBudget {
		return nil, fmt.Errorf("request body budget %d bytes: must be at least %d (1 MiB)", opts.RequestBodyBudget, limits.MinRequestBodyBudget)
	}
	if opts.RequestBodyTimeout <= 0 {
		opts.RequestBodyTimeout = limits.DefaultRequestBodyTimeout
	}
	state, err := pins.Load(opts.DataDir, opts.Logger)
	if err != nil {
		return nil, err
	}
	if opts.Prepared == nil {
		opts.Prepared = NewPreparedModules()
	}
	rt := &Runtime{opts: opts, log: opts.Logger, svc: processor.NewServices(),
		archive: archive.New(opts.DataDir, opts.KeepVersions, opts.Logger),
		state:   state, rejected: map[string]rejectedFile{}, retired: map[*processor.Version]struct{}{}}
	rt.bg, rt.stop = context.WithCancel(context.WithoutCancel(ctx))
	svc := rt.svc
	svc.Limits, svc.PluginLimits, svc.MaxLimits = opts.Limits, opts.PluginLimits, opts.MaxLimits
	svc.AllowPermissions, svc.DataDir, svc.Trust = opts.AllowPermissions, opts.DataDir, opts.Trust
	svc.Log, svc.Cache, svc.Prepared, svc.Bg = opts.Logger, cache, opts.Prepared.c, rt.bg
	svc.Emit = func(eventType, plugin, version string, data json.RawMessage) {
		rt.emit(Event{Type: eventType, Plugin: plugin, Version: version, Data: data, Guest: true})
	}
	svc.Dyn.Store(dyn)
	req := route.NewMetrics()
	rt.srv = route.NewServer(&svc.Dyn, req, opts.RequestBodyBudget, opts.RequestBodyTimeout, opts.Callers)
	rt.srv.Rate.Set(opts.RateLimits)
	rt.metrics = newMetrics(opts.Registerer, rt, req)
	go rt.shrinkLoop(rt.bg)
	return rt, nil
}

// checkLimits completes the limits of o with their defaults and checks
// them: the maximums within limits.HardMax, the defaults and every
// processor's within the maximums.
func (o *Options) checkLimits() error {
	o.MaxLimits = limits.DefaultMax().Override(o.MaxLimits)
	if err := o.MaxLimits.ValidateMax(); err != nil {
		return fmt.Errorf("maxLimits: %w", err)
	}
	o.Limits = limits.Default().ClampTo(o.MaxLimits).Override(o.Limits)
	if err := o.Limits.Validate(); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	errs := []error{beyondOperator("limits", o.Limits, o.MaxLimits)}
	for _, name := range slices.Sorted(maps.Keys(o.PluginLimits)) {
		errs = append(errs, beyondOperator("pluginLimits."+name, o.PluginLimits[name], o.MaxLimits))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	return nil
}

// LoadDir is Sync without its Changes: it makes the runtime serve what the
// plugins directory holds. It returns an error only if the directory
// cannot be read or the runtime is closed.
func (rt *Runtime) LoadDir(ctx context.Context) error {
	_, err := rt.Sync(ctx)
	return err
}

// ServeHTTP serves the endpoint of the processor that claims the request's
// method and path, or a JSON 404 or 405.
func (rt *Runtime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.srv.ServeHTTP(w, r)
}

// Close closes every processor, those still draining after a swap
// included, waiting for in-flight calls until ctx ends, then the compiled
// modules kept from retired versions, and frees the compilation cache's
// memory. It is idempotent. Traffic and EndedExperiments still answer
// after it, with everything served, for a last report.
func (rt *Runtime) Close(ctx context.Context) error {
	if !rt.closed.CompareAndSwap(false, true) {
		return nil
	}
	rt.stop()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	s := rt.srv.Current.Swap(rt.srv.Empty())
	rt.endExperiments(nil) // a last report still counts their calls
	rt.experiments = nil
	var errs []error
	for _, p := range s.Procs {
		if err := p.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", p.ID(), err))
		}
	}
	rt.retiredMu.Lock()
	retired := slices.Collect(maps.Keys(rt.retired))
	rt.retiredMu.Unlock()
	for _, p := range retired {
		if err := p.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close %s (draining): %w", p.ID(), err))
		}
	}
	rt.drains.Wait() // they end at once: rt.stop ended their context
	errs = append(errs, rt.svc.Kept.Close(ctx), rt.svc.Cache.Close(context.WithoutCancel(ctx)))
	return errors.Join(errs...)
}

func (rt *Runtime) shrinkLoop(ctx context.Context) {
	t := time.NewTicker(shrinkEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, p := range rt.srv.Current.Load().Procs {
				p.Pool.Shrink(idleFor)
			}
			rt.svc.Kept.Expire(ctx, time.Now().Add(-codecache.KeepCodeIdle))
		}
	}
}

func (rt *Runtime) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	rt.metrics.events.WithLabelValues(e.Plugin, e.Type).Inc()
	if e.Guest {
		rt.log.Debug("processor event", "plugin", e.Plugin, "version", e.Version, "type", e.Type, "data", string(e.Data))
	}
	if rt.opts.Events != nil {
		rt.opts.Events(e)
	}
}

// processorFiles lists the *.wasm files a sync scans: those of PluginsDir,
// then those of SourcesDir (which may not exist).
func (o *Options) processorFiles() ([]string, error) {
	files, err := wasmFiles(o.PluginsDir)
	if err != nil {
		return nil, fmt.Errorf("plugins directory: %w", err)
	}
	if o.SourcesDir == "" {
		return files, nil
	}
	pulled, err := wasmFiles(o.SourcesDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sources directory: %w", err)
	}
	return append(files, pulled...), nil
}

// wasmFiles lists the *.wasm files of dir, sorted, skipping hidden files.
func wasmFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if e.Type().IsRegular() && strings.HasSuffix(name, ".wasm") && !strings.HasPrefix(name, ".") {
			files = append(files, filepath.Join(dir, name))
		}
	}
	return files, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// HeaderPlugin names the processor version that served a response.
const HeaderPlugin = route.HeaderPlugin

// WriteError writes the neuron's JSON error body: {"error": msg, "code": code}.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	route.WriteError(w, status, code, msg)
}
