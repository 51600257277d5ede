package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"path/filepath"
	"slices"
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

// Version is one loaded version of a processor: its own wazero runtime
// (so its memory limit and host bindings are its own, and closing it frees
// everything), the compiled module and a pool of instances. Open makes
// one; the runtime routes calls to it and retires it. Its exported fields
// are set by Open and read-only after it, except the atomics.
type Version struct {
	// svc are the runtime's services, shared by its every version.
	svc *Services
	// Mod is the module: its manifest, digest and path.
	Mod    *modfile.Module
	Limits limits.Limits
	Log    *slog.Logger
	// FailLog and guestLog are Log rate-limited, for the lines a call
	// can make: its failure, and what the guest logs (see logs.go).
	FailLog, guestLog *slog.Logger
	// metricCapLog and eventCapLog warn, about once a minute, that the
	// processor's custom metrics or event types are at their cap.
	metricCapLog, eventCapLog *slog.Logger
	// code is the wazero runtime and compiled module the instances come
	// from, owned by this processor until it closes (see code.go);
	// codeKept says it was kept from an earlier version, not compiled.
	code     *code
	codeKept bool
	modCfg   wazero.ModuleConfig
	// Pool holds the instances calls check out (Checkout, Checkin).
	Pool    *pool.Pool[*Instance]
	Exports []string // handler exports, indexed by an endpoint's function index
	// handles are exports then abi.ExportAlloc: the functions every
	// instance keeps a handle of, whose call stacks it measures;
	// stackResets counts the handles replaced for their stack (see
	// internal/guest, stack.go).
	handles     []string
	StackResets atomic.Uint64
	Headers     []string // canonical request headers forwarded to the guest
	// declared is the configuration with the manifest's declared settings
	// under it, for the Dynamic it was encoded for (see Config).
	declared atomic.Pointer[declaredConfig]
	// Record is the runtime's record of this NAME@VERSION: traffic and
	// custom counters and instance numbering that outlive a reload. Set
	// once the manifest is read; the version counts p open until p closes.
	Record *Record
	// startTimeout and memoryLimit are derived from limits once, for the
	// instances the pool creates in the background.
	startTimeout time.Duration
	memoryLimit  uint32

	// File is the module and sidecar as read, kept so that the version can
	// be archived when it is replaced or unloaded.
	File *modfile.File
	// FromArchive is true for a version loaded from DataDir/archive to
	// honour a pin, rather than from the plugins directory.
	FromArchive bool
	// LoadTook is how long opening took, for the log; opened is set once
	// opening succeeded.
	LoadTook time.Duration
	opened   bool

	// Inflight counts the calls routed to this processor version and not
	// yet answered; Retiring is set once a swap took the version out of
	// the snapshot. Together they let a swap drain the version without
	// dropping a call: see internal/route and docs/design.md, "How does a
	// swap drain the old version?".
	Inflight atomic.Int64
	Retiring atomic.Bool

	// workers are the live instances, for Workers and RestartWorkers;
	// changed when an instance is created or destroyed, never per call.
	workersMu sync.Mutex
	workers   map[*Instance]struct{}

	closeOnce sync.Once
	closeErr  error
}

// Name, Version and the digest identify a processor version everywhere:
// logs, events, metrics labels, inspect output.
func (p *Version) Name() string    { return p.Mod.Manifest.Name }
func (p *Version) Version() string { return p.Mod.Manifest.Version }

// ID is NAME@VERSION.
func (p *Version) ID() string { return p.Name() + "@" + p.Version() }

// Digest12 is the first modfile.DigestLabelLen hex digits of the module's
// sha256.
func (p *Version) Digest12() string {
	return p.Mod.Digest[:modfile.DigestLabelLen]
}

// Open checks the signature of the module file f against svc.Trust,
// loads it and fills its pool, then runs the module's self-test: a file
// whose signature is missing or wrong is refused before anything of it is
// prepared or compiled (see docs/design.md, "Why are signatures checked
// before compiling, and in processor.Open?"). On error everything it made is closed, and the
// error is a *modfile.Error naming the processor when its manifest was
// read.
func Open(ctx context.Context, svc *Services, f *modfile.File, fromArchive bool) (*Version, error) {
	if err := f.Verify(svc.Trust); err != nil {
		return nil, &modfile.Error{Err: err}
	}
	start := time.Now()
	p := &Version{svc: svc, Log: svc.Log.With("file", filepath.Base(f.Path)), workers: map[*Instance]struct{}{}, File: f, FromArchive: fromArchive}
	defer func() { p.LoadTook = time.Since(start) }()
	bin, err := f.Binary(svc.Prepared)
	if err == nil {
		err = p.open(ctx, bin)
	}
	if err != nil {
		_ = p.Close(ctx)
		if p.Mod != nil {
			return nil, &modfile.Error{Plugin: p.Name(), Version: p.Version(), Err: err}
		}
		if _, ok := errors.AsType[*modfile.Error](err); ok { // named by modfile.Read
			return nil, err
		}
		return nil, &modfile.Error{Err: err}
	}
	return p, nil
}

func (p *Version) open(ctx context.Context, bin *modfile.Binary) error {
	svc := p.svc
	if err := p.loadCode(ctx, bin); err != nil {
		return err
	}
	m := p.Mod
	// Both released by Close.
	p.Record = svc.Records.open(p.Name(), p.Version())
	svc.Metrics.acquire(p)
	p.Log = svc.Log.With("plugin", m.Manifest.Name, "version", m.Manifest.Version, "digest", p.Digest12(), "file", filepath.Base(bin.Path))
	p.limitLogs()
	if !bin.Interruptible {
		p.Log.Warn("module uses instructions the interrupt instrumentation does not know; its calls are stopped by wazero's slower context watch")
	}
	p.Limits = svc.Limits.Override(limits.FromManifest(m.Manifest.Limits)).Override(svc.PluginLimits[m.Manifest.Name])
	// The operator's own limits are within the maximums (the runtime
	// checked them): whatever exceeds one comes from the manifest.
	if err := beyondManifest(p.Limits, svc.MaxLimits); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	if err := p.Limits.Validate(); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	p.startTimeout, p.memoryLimit = p.Limits.StartTimeout, p.Limits.MemoryPages*65536
	var err error
	if p.modCfg, err = svc.grant(m.Manifest); err != nil {
		return err
	}
	if err := coversMemory(p.code.compiled, p.Limits.MemoryPages); err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	if p.Limits.MemoryPages != p.code.pages { // not shared yet: no pool exists
		if err := p.recompile(ctx, bin, p.Limits.MemoryPages); err != nil {
			return err
		}
	}
	p.Headers = forwardedHeaders(m.Manifest.Headers)
	for _, e := range m.Manifest.Endpoints {
		if !slices.Contains(p.Exports, e.Export) {
			p.Exports = append(p.Exports, e.Export)
		}
	}
	p.handles = append(slices.Clone(p.Exports), abi.ExportAlloc)
	p.Pool = pool.New(pool.Config[*Instance]{
		Min: p.Limits.PoolMin, Max: p.Limits.PoolMax, Queue: p.Limits.PoolQueue,
		MaxWait: p.Limits.CallTimeout, // the default; calls wait at most their own timeout (checkout)
		New:     p.newInstance, Destroy: p.destroyInstance,
	})
	if err := p.Pool.Fill(ctx); err != nil {
		return fmt.Errorf("start instances: %w", err)
	}
	if err := p.selfTest(ctx); err != nil {
		return err
	}
	p.opened = true
	return nil
}

// CloseGrace bounds how long a version whose calls were interrupted (a
// drain past its timeout, a close whose context ended) waits for them to
// answer before it closes its wazero runtime under them. An interrupted
// guest stops at its next loop head or host call, so this is only reached
// by a guest stuck in the host.
const CloseGrace = 10 * time.Second

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
func (p *Version) newInstance(ctx context.Context) (*Instance, error) {
	mod, cc, stderr, err := guest.Instantiate(ctx, p.code.wr, &p.svc.Mem, p.code.compiled, p.modCfg, p.startTimeout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.ID(), err)
	}
	in := &Instance{}
	if err := in.Start(ctx, mod, cc, stderr, guest.Spec{Name: p.ID(), Handles: p.handles, MemoryLimit: p.memoryLimit, StackResets: &p.StackResets}); err != nil {
		return nil, fmt.Errorf("instantiate %s: %w", p.ID(), err)
	}
	p.track(in)
	return in, nil
}

// StackBytes is the call stack its live instances' handles hold.
func (p *Version) StackBytes() int64 {
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
func (p *Version) destroyInstance(in *Instance) {
	p.untrack(in)
	in.Close(context.Background())
}

// Close releases the pool, then the code: kept for a later version of the
// same file when every instance closed (see releaseCode), else closed with
// everything in its wazero runtime. It tolerates a processor that failed
// halfway through open, and may be called more than once and concurrently
// (a drain and Runtime.Close): each call waits for the pool until its ctx
// ends, and the first to get past the pool releases the code.
//
// Calls still running when ctx ends are interrupted (they answer 503
// unloaded) and waited for, up to CloseGrace more: the code must not close
// under a running guest, whose linear memory closing unmaps (see
// internal/guestmem). A guest that outlives even that, stuck in a host call,
// leaves the code open, and the error says so.
func (p *Version) Close(ctx context.Context) error {
	var err error
	running := false
	if p.Pool != nil {
		if err = p.Pool.Close(ctx); err != nil {
			p.UnloadInstances()
			grace, cancel := context.WithTimeout(context.WithoutCancel(ctx), CloseGrace)
			running = p.Pool.Close(grace) != nil
			cancel()
		}
	}
	p.closeOnce.Do(func() {
		if running {
			p.closeErr = fmt.Errorf("calls of %s still run %v after they were interrupted: its code is left open", p.ID(), CloseGrace)
		} else {
			p.closeErr = p.releaseCode(ctx, err)
		}
		if p.Mod != nil && p.Record != nil {
			p.svc.Metrics.release(p)
			p.svc.Records.close(p.Record)
		}
	})
	return errors.Join(err, p.closeErr)
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
func (p *Version) Logger() *slog.Logger {
	if p.guestLog == nil {
		return p.Log
	}
	return p.guestLog
}

// Config implements host.Env: the processor's settings in the Dynamic in
// force now (Services.Dyn) over the defaults its manifest declares, or {}
// while the module is probed at load. A processor that declares settings
// encodes its configuration once per Dynamic, at its first read.
func (p *Version) Config() []byte {
	if p.Mod == nil {
		return emptyConfig
	}
	d := p.svc.Dyn.Load()
	defaults := p.Mod.Manifest.Settings
	if len(defaults) == 0 {
		return d.For(p.Name())
	}
	c := p.declared.Load()
	if c == nil || c.dyn != d {
		c = d.withDefaults(p.Name(), defaults)
		p.declared.Store(c)
	}
	return c.json
}

var _ host.Env = (*Version)(nil)
