package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/empirefederation/neuron/host"
	"github.com/empirefederation/neuron/internal/guest"
	"github.com/empirefederation/neuron/internal/limits"
	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/pool"
	"github.com/empirefederation/neuron/sdk/abi"
)

// processor is one loaded version of a processor: its own wazero runtime
// (so its memory limit and host bindings are its own, and closing it frees
// everything), the compiled module and a pool of instances.
type processor struct {
	// svc are the runtime's services, shared by its every version.
	svc    *services
	mod    *modfile.Module
	limits Limits
	log    *slog.Logger
	// failLog and guestLog are p.log rate-limited, for the lines a call
	// can make: its failure, and what the guest logs (see logs.go).
	failLog, guestLog *slog.Logger
	// metricCapLog and eventCapLog warn, about once a minute, that the
	// processor's custom metrics or event types are at their cap.
	metricCapLog, eventCapLog *slog.Logger
	// code is the wazero runtime and compiled module the instances come
	// from, owned by this processor until it closes (see code.go);
	// codeKept says it was kept from an earlier version, not compiled.
	code     *code
	codeKept bool
	modCfg   wazero.ModuleConfig
	pool     *pool.Pool[*instance]
	exports  []string // handler exports, indexed by endpoint.fn
	// handles are exports then abi.ExportAlloc: the functions every
	// instance keeps a handle of, whose call stacks it measures;
	// stackResets counts the handles replaced for their stack (see
	// internal/guest, stack.go).
	handles     []string
	stackResets atomic.Uint64
	headers     []string // canonical request headers forwarded to the guest
	// declared is the configuration with the manifest's declared settings
	// under it, for the Dynamic it was encoded for (see Config).
	declared atomic.Pointer[declaredConfig]
	// state is the runtime's record of this NAME@VERSION: traffic and
	// custom counters and instance numbering that outlive a reload. Set
	// once the manifest is read; the version counts p open until p closes.
	state *versionState
	// startTimeout and memoryLimit are derived from limits once, for the
	// instances the pool creates in the background.
	startTimeout time.Duration
	memoryLimit  uint32

	// file is the module and sidecar as read, kept so that the version can
	// be archived when it is replaced or unloaded (see archive.go).
	file *modfile.File
	// fromArchive is true for a version loaded from DataDir/archive to
	// honour a pin, rather than from the plugins directory.
	fromArchive bool
	// loadTook is how long opening took, for the log; opened is set once
	// opening succeeded.
	loadTook time.Duration
	opened   bool

	// inflight counts the calls routed to this processor version and not
	// yet answered; retiring is set once a swap took the version out of
	// the snapshot. Together they let a swap drain the version without
	// dropping a call: see endpoint.handle and docs/design.md, "How does a
	// swap drain the old version?".
	inflight atomic.Int64
	retiring atomic.Bool

	// workers are the live instances, for Workers and RestartWorkers;
	// changed when an instance is created or destroyed, never per call.
	workersMu sync.Mutex
	workers   map[*instance]struct{}

	closeOnce sync.Once
	closeErr  error
}

// Name, Version and the digest identify a processor version everywhere:
// logs, events, metrics labels, inspect output.
func (p *processor) name() string    { return p.mod.Manifest.Name }
func (p *processor) version() string { return p.mod.Manifest.Version }
func (p *processor) id() string      { return p.name() + "@" + p.version() }
func (p *processor) digest12() string {
	return p.mod.Digest[:digestLabelLen]
}

// digestLabelLen is how many hex digits of a module's sha256 label its
// metrics and name its archived file: enough to tell builds apart.
const digestLabelLen = 12

// openProcessor loads the module file f and fills its pool, then runs the
// module's self-test. On error everything it made is closed.
func (rt *Runtime) openProcessor(ctx context.Context, f *modfile.File, fromArchive bool) (*processor, error) {
	start := time.Now()
	p := &processor{svc: &rt.services, log: rt.log.With("file", filepath.Base(f.Path)), workers: map[*instance]struct{}{}, file: f, fromArchive: fromArchive}
	defer func() { p.loadTook = time.Since(start) }()
	bin, err := f.Binary(rt.prepared)
	if err == nil {
		err = p.open(ctx, bin)
	}
	if err != nil {
		_ = p.close(ctx)
		if p.mod != nil {
			return nil, &modfile.Error{Plugin: p.name(), Version: p.version(), Err: err}
		}
		if _, ok := errors.AsType[*modfile.Error](err); ok { // named by modfile.Read
			return nil, err
		}
		return nil, &modfile.Error{Err: err}
	}
	return p, nil
}

func (p *processor) open(ctx context.Context, bin *modfile.Binary) error {
	rt := p.svc
	if err := p.loadCode(ctx, bin); err != nil {
		return err
	}
	m := p.mod
	// Both released by close.
	p.state = rt.openVersion(p.name(), p.version())
	rt.metrics.acquire(p)
	p.log = rt.log.With("plugin", m.Manifest.Name, "version", m.Manifest.Version, "digest", p.digest12(), "file", filepath.Base(bin.Path))
	p.limitLogs()
	if !bin.Interruptible {
		p.log.Warn("module uses instructions the interrupt instrumentation does not know; its calls are stopped by wazero's slower context watch")
	}
	p.limits = rt.opts.Limits.Override(limits.FromManifest(m.Manifest.Limits)).Override(rt.opts.PluginLimits[m.Manifest.Name])
	// The operator's own limits are within the maximums (New checked
	// them): whatever exceeds one comes from the manifest.
	if err := beyondManifest(p.limits, rt.opts.MaxLimits); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	if err := p.limits.Validate(); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	p.startTimeout, p.memoryLimit = p.limits.StartTimeout, p.limits.MemoryPages*65536
	var err error
	if p.modCfg, err = rt.grant(m.Manifest); err != nil {
		return err
	}
	if err := coversMemory(p.code.compiled, p.limits.MemoryPages); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	if p.limits.MemoryPages != p.code.pages { // not shared yet: no pool exists
		if err := p.recompile(ctx, bin, p.limits.MemoryPages); err != nil {
			return err
		}
	}
	p.headers = forwardedHeaders(m.Manifest.Headers)
	for _, e := range m.Manifest.Endpoints {
		if !slices.Contains(p.exports, e.Export) {
			p.exports = append(p.exports, e.Export)
		}
	}
	p.handles = append(slices.Clone(p.exports), abi.ExportAlloc)
	p.pool = pool.New(pool.Config[*instance]{
		Min: p.limits.PoolMin, Max: p.limits.PoolMax, Queue: p.limits.PoolQueue,
		MaxWait: p.limits.CallTimeout, // the default; calls wait at most their own timeout (checkout)
		New:     p.newInstance, Destroy: p.destroyInstance,
	})
	if err := p.pool.Fill(ctx); err != nil {
		return fmt.Errorf("start instances: %w", err)
	}
	if err := p.selfTest(ctx); err != nil {
		return err
	}
	p.opened = true
	return nil
}

// coversMemory checks that a memory limit of pages covers the initial
// memory the module declares, which no instance could start without.
func coversMemory(compiled wazero.CompiledModule, pages uint32) error {
	for _, m := range compiled.ExportedMemories() {
		if m.Min() > pages {
			return fmt.Errorf("memoryPages %d (%d KiB) is below the module's own initial memory of %d pages (%d KiB): "+
				"set limits.memoryPages to at least %d in the manifest (or the operator's pluginLimits), or leave it out",
				pages, pages*64, m.Min(), m.Min()*64, m.Min())
		}
	}
	return nil
}

// newInstance instantiates the module, running _initialize, and resolves
// its exports once so that calls do no lookups.
func (p *processor) newInstance(ctx context.Context) (*instance, error) {
	mod, cc, stderr, err := guest.Instantiate(ctx, p.code.wr, &p.svc.mem, p.code.compiled, p.modCfg, p.startTimeout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.id(), err)
	}
	in := &instance{}
	if err := in.Start(ctx, mod, cc, stderr, guest.Spec{Name: p.id(), Handles: p.handles, MemoryLimit: p.memoryLimit, StackResets: &p.stackResets}); err != nil {
		return nil, fmt.Errorf("instantiate %s: %w", p.id(), err)
	}
	p.track(in)
	return in, nil
}

// stackBytes is the call stack its live instances' handles hold.
func (p *processor) stackBytes() int64 {
	p.workersMu.Lock()
	defer p.workersMu.Unlock()
	var n int64
	for in := range p.workers {
		n += in.StackBytes()
	}
	return n
}

// destroyInstance is the pool's Destroy: the instance leaves Workers, then
// is closed.
func (p *processor) destroyInstance(in *instance) {
	p.untrack(in)
	in.Close(context.Background())
}

// close releases the pool, then the code: kept for a later version of the
// same file when every instance closed (see releaseCode), else closed with
// everything in its wazero runtime. It tolerates a processor that failed
// halfway through open, and may be called more than once and concurrently
// (a drain and Runtime.Close): each call waits for the pool until its ctx
// ends, and the first to get past the pool releases the code.
//
// Calls still running when ctx ends are interrupted (they answer 503
// unloaded) and waited for, up to closeGrace more: the code must not close
// under a running guest, whose linear memory closing unmaps (see
// internal/guestmem). A guest that outlives even that, stuck in a host call,
// leaves the code open, and the error says so.
func (p *processor) close(ctx context.Context) error {
	var err error
	running := false
	if p.pool != nil {
		if err = p.pool.Close(ctx); err != nil {
			p.unloadInstances()
			grace, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeGrace)
			running = p.pool.Close(grace) != nil
			cancel()
		}
	}
	p.closeOnce.Do(func() {
		if running {
			p.closeErr = fmt.Errorf("calls of %s still run %v after they were interrupted: its code is left open", p.id(), closeGrace)
		} else {
			p.closeErr = p.releaseCode(ctx, err)
		}
		if p.mod != nil && p.state != nil {
			p.svc.metrics.release(p)
			p.svc.closeVersion(p.state)
		}
	})
	return errors.Join(err, p.closeErr)
}

// grant returns the instance configuration for a manifest, with the
// permissions it asks for if the operator allows them.
func (rt *services) grant(m abi.Manifest) (wazero.ModuleConfig, error) {
	cfg := guest.ModuleConfig()
	for _, perm := range m.Permissions {
		if !slices.Contains(rt.opts.AllowPermissions, perm) {
			return nil, fmt.Errorf("permission %q is not allowed by the operator; allow it with NEURON_ALLOW_PERMISSIONS=%s or remove it from the manifest", perm, perm)
		}
		switch perm {
		case abi.PermFilesystem:
			dir := filepath.Join(rt.opts.DataDir, "plugins", m.Name)
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("permission filesystem: %w", err)
			}
			cfg = cfg.WithFSConfig(wazero.NewFSConfig().WithDirMount(dir, "/data"))
		case abi.PermEnvironment:
			prefix := "NEURON_PLUGIN_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(m.Name)) + "_"
			for _, kv := range os.Environ() {
				if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, prefix) {
					cfg = cfg.WithEnv(strings.TrimPrefix(k, prefix), v)
				}
			}
		}
	}
	return cfg, nil
}

func forwardedHeaders(extra []string) []string {
	hs := slices.Clone(abi.DefaultHeaders[:])
	for _, h := range extra {
		hs = append(hs, textproto.CanonicalMIMEHeaderKey(h))
	}
	slices.Sort(hs)
	return slices.Compact(hs)
}

// Logger implements host.Env: the guest's lines are rate-limited, once
// the processor is named (not while its module is probed at load).
func (p *processor) Logger() *slog.Logger {
	if p.guestLog == nil {
		return p.log
	}
	return p.guestLog
}

// Config implements host.Env: the processor's settings in the Dynamic in
// force now (see SetDynamic) over the defaults its manifest declares, or {}
// while the module is probed at load. A processor that declares settings
// encodes its configuration once per Dynamic, at its first read.
func (p *processor) Config() []byte {
	if p.mod == nil {
		return emptyConfig
	}
	d := p.svc.dyn.Load()
	defaults := p.mod.Manifest.Settings
	if len(defaults) == 0 {
		return d.config(p.name())
	}
	c := p.declared.Load()
	if c == nil || c.dyn != d {
		c = d.withDefaults(p.name(), defaults)
		p.declared.Store(c)
	}
	return c.json
}

var _ host.Env = (*processor)(nil)
