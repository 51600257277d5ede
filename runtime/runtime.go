// Package runtime loads Wasm processors from a directory and serves the HTTP
// endpoints they declare.
//
// A Runtime compiles each module once (with a compilation cache on disk, so
// a restart compiles in milliseconds), keeps a pool of pre-initialized
// instances per processor version, and routes requests through an immutable
// snapshot of the processors loaded. A module that is not valid is refused
// with a one-line reason in the log; every other processor serves.
//
//	rt, err := runtime.New(ctx, runtime.Options{PluginsDir: "plugins", DataDir: ".neuron"})
//	if err != nil { ... }
//	defer rt.Close(ctx)
//	rt.LoadDir(ctx)
//	http.ListenAndServe(":8080", rt)
package runtime

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tetratelabs/wazero"
)

// Options configure a Runtime. The zero value of each field has a default.
type Options struct {
	// PluginsDir holds the *.wasm processors. Default "plugins".
	PluginsDir string
	// DataDir holds the compilation cache (DataDir/cache) and the
	// directories of processors granted the filesystem permission. Default
	// ".neuron".
	DataDir string
	// CacheDir holds compiled modules between runs. Default DataDir/cache.
	CacheDir string
	// Limits are every processor's defaults; zero fields take DefaultLimits.
	Limits Limits
	// PluginLimits override Limits and the manifest for one processor, by name.
	PluginLimits map[string]Limits
	// Settings is the flat runtime configuration every processor sees, until
	// SetDynamic replaces it.
	Settings map[string]any
	// Plugins holds each processor's own settings, by name; they are merged
	// over Settings into the configuration the processor reads. Settings and
	// Plugins are the runtime's first Dynamic.
	Plugins map[string]map[string]any
	// AllowPermissions lists the permissions processors may be granted.
	AllowPermissions []string
	// Logger receives the runtime's and the processors' logs. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the runtime's metrics. Default a private registry.
	Registerer prometheus.Registerer
	// Events receives every event: processors loaded and refused, and events
	// the processors emit. It must not block. Default: none.
	Events func(Event)
}

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

// Event types the runtime emits.
const (
	EventPluginLoaded  = "plugin_loaded"
	EventPluginRefused = "plugin_refused"
)

// Runtime serves the processors of one plugins directory. It is an
// http.Handler for their endpoints. Its methods are safe for concurrent use.
// Closing it closes every processor and frees their memory.
type Runtime struct {
	opts    Options
	log     *slog.Logger
	cache   wazero.CompilationCache
	metrics *metrics
	current atomic.Pointer[snapshot]
	// dyn is the run-time configuration; see SetDynamic.
	dyn    atomic.Pointer[dynamic]
	mu     sync.Mutex // serializes LoadDir and Close; never taken by requests
	closed atomic.Bool
	loaded atomic.Bool
	stop   context.CancelFunc

	// versions keeps each NAME@VERSION's traffic counters and instance
	// numbering across loads; taken at load and by InFlight, never per request.
	versionsMu sync.Mutex
	versions   map[string]*versionState
}

// shrinkEvery and idleFor govern how a pool grown by a spike shrinks back.
const (
	shrinkEvery = 15 * time.Second
	idleFor     = time.Minute
)

// New returns a Runtime with opts, serving nothing until LoadDir.
func New(ctx context.Context, opts Options) (*Runtime, error) {
	opts.Limits = DefaultLimits.Override(opts.Limits)
	if err := opts.Limits.validate(); err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	dyn, err := newDynamic(Dynamic{Settings: opts.Settings, Plugins: opts.Plugins})
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
	rt := &Runtime{opts: opts, log: opts.Logger, cache: cache, versions: map[string]*versionState{}}
	rt.dyn.Store(dyn)
	rt.metrics = newMetrics(opts.Registerer, rt)
	rt.current.Store(emptySnapshot(rt.metrics))
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	rt.stop = stop
	go rt.shrinkLoop(bg)
	return rt, nil
}

// LoadDir loads every *.wasm file in the plugins directory (hidden files
// skipped) and serves them. A file that cannot be loaded is refused with a
// reason in the log and a plugin_refused event; the others serve. It returns
// an error only if the directory cannot be read.
func (rt *Runtime) LoadDir(ctx context.Context) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed.Load() {
		return errors.New("runtime closed")
	}
	files, err := wasmFiles(rt.opts.PluginsDir)
	if err != nil {
		return fmt.Errorf("plugins directory: %w", err)
	}
	var procs []*processor
	for _, path := range files {
		start := time.Now()
		p, err := rt.openProcessor(ctx, path)
		if err != nil {
			rt.refuse(path, "", "", err)
			continue
		}
		p.log.Info("processor loaded", "endpoints", len(p.mod.Manifest.Endpoints), "pool_min", p.limits.PoolMin,
			"took", time.Since(start).Round(time.Millisecond))
		procs = append(procs, p)
	}
	s, refused := newSnapshot(procs, rt.metrics)
	for _, r := range refused {
		rt.refuse(r.p.mod.Path, r.p.name(), r.p.version(), r.err)
		_ = r.p.close(ctx)
	}
	for _, p := range s.procs {
		rt.emit(Event{Type: EventPluginLoaded, Plugin: p.name(), Version: p.version(), Data: mustJSON(map[string]any{
			"digest": p.mod.Digest, "file": filepath.Base(p.mod.Path), "serving": s.serving[p.name()] == p})})
	}
	old := rt.current.Swap(s)
	rt.loaded.Store(true)
	rt.log.Info("serving processors", "processors", s.describe(), "dir", rt.opts.PluginsDir)
	for _, p := range old.procs {
		_ = p.close(ctx)
	}
	return nil
}

func (rt *Runtime) refuse(path, name, version string, err error) {
	rt.metrics.refused.Inc()
	rt.log.Warn("processor refused", "file", filepath.Base(path), "reason", err.Error())
	rt.emit(Event{Type: EventPluginRefused, Plugin: name, Version: version,
		Data: mustJSON(map[string]string{"file": filepath.Base(path), "reason": err.Error()})})
}

// ServeHTTP serves the endpoint of the processor that claims the request's
// method and path, or a JSON 404 or 405.
func (rt *Runtime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.current.Load().ServeHTTP(w, r)
}

// Close closes every processor, waiting for in-flight calls until ctx ends,
// then frees the compilation cache's memory. It is idempotent.
func (rt *Runtime) Close(ctx context.Context) error {
	if !rt.closed.CompareAndSwap(false, true) {
		return nil
	}
	rt.stop()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	s := rt.current.Swap(emptySnapshot(rt.metrics))
	var errs []error
	for _, p := range s.procs {
		if err := p.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", p.id(), err))
		}
	}
	errs = append(errs, rt.cache.Close(context.WithoutCancel(ctx)))
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
			for _, p := range rt.current.Load().procs {
				p.pool.Shrink(idleFor)
			}
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
