package processor

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/tetratelabs/wazero"

	"github.com/empirefederation/neuron/host"
	"github.com/empirefederation/neuron/internal/guest"
	"github.com/empirefederation/neuron/internal/modfile"
)

// code is what a processor version runs before any instance exists: its
// own wazero runtime (WASI, the host module, the memory limit), the
// module compiled in it, and the probe's result. One processor owns it at
// a time; when that processor closes cleanly, it goes to the runtime's
// kept codes (a codecache.Kept) instead of being closed, and a later version with the same
// file contents takes it over rather than decoding, validating, compiling
// and probing the module again. See docs/design.md, "Why keep the compiled
// module of a retired version?".
type code struct {
	key      codeKey
	wr       wazero.Runtime
	compiled wazero.CompiledModule
	// mod is the probe's result; its Path and Sidecar are those of the
	// file that first opened it (see modfile.Module.At).
	mod *modfile.Module
	// env is the processor the host module serves.
	env *hostEnv
	// pages is the runtime's memory limit.
	pages uint32
}

// codeKey identifies what a code was made from: the module and sidecar
// contents, and whether the module was instrumented for interruption
// (which the runtime's configuration depends on); not the signature file,
// which was checked before the code was made.
type codeKey struct {
	digest, sidecar string
	interruptible   bool
}

// hostEnv is the host.Env a code's host module calls: the processor that
// owns the code now, nil while the code is kept. A code changes owner only
// while it has no instance, so no host call sees the change halfway, nor
// a nil; the request path pays one atomic load per host call.
type hostEnv struct{ p atomic.Pointer[Version] }

// Logger implements host.Env.
func (e *hostEnv) Logger() *slog.Logger { return e.p.Load().Logger() }

// Config implements host.Env.
func (e *hostEnv) Config() []byte { return e.p.Load().Config() }

// AddMetric implements host.Env.
func (e *hostEnv) AddMetric(name string, v float64) bool { return e.p.Load().AddMetric(name, v) }

// Emit implements host.Env.
func (e *hostEnv) Emit(eventType string, data json.RawMessage) bool {
	return e.p.Load().Emit(eventType, data)
}

var _ host.Env = (*hostEnv)(nil)

// loadCode gives p the code of bin: the one kept from a version with the
// same contents when the runtime has it, else a new one, compiled (from
// the compilation cache when the bytes were seen before) and probed.
func (p *Version) loadCode(ctx context.Context, bin *modfile.Binary) error {
	key := codeKey{bin.Digest, bin.SidecarSum, bin.Interruptible}
	if c, ok := p.svc.Kept.Take(key); ok {
		c.env.p.Store(p)
		p.code, p.Mod, p.codeKept = c, c.mod.At(bin.Path), true
		p.svc.WazeroOpen.Add(1)
		p.svc.Metrics.Opens.WithLabelValues(p.CodeSource()).Inc()
		return nil
	}
	c, err := p.newCode(ctx, key, p.svc.Limits.MemoryPages)
	if err != nil {
		return err
	}
	p.code = c
	if c.mod, c.compiled, err = modfile.Read(ctx, c.wr, &p.svc.Mem, bin, p.svc.StartTimeout); err != nil {
		return err
	}
	p.Mod = c.mod
	p.svc.Metrics.Opens.WithLabelValues(p.CodeSource()).Inc()
	return nil
}

// recompile replaces p's code, which has no instance yet, by one with a
// memory limit of pages (the cache makes compiling again cheap).
func (p *Version) recompile(ctx context.Context, bin *modfile.Binary, pages uint32) error {
	c, err := p.newCode(ctx, p.code.key, pages)
	if err != nil {
		return err
	}
	c.mod = p.code.mod
	_ = p.closeCode(ctx)
	p.code = c
	if c.compiled, err = modfile.Compile(ctx, c.wr, bin.Code); err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	return nil
}

// newCode returns a new wazero runtime for p, with WASI and the host
// module bound to p, and nothing compiled yet.
func (p *Version) newCode(ctx context.Context, key codeKey, pages uint32) (*code, error) {
	c := &code{key: key, env: &hostEnv{}, pages: pages}
	c.env.p.Store(p)
	c.wr = guest.NewRuntime(ctx, p.svc.Cache, pages, key.interruptible)
	p.svc.WazeroOpen.Add(1)
	if _, err := host.Instantiate(ctx, c.wr, c.env); err != nil {
		_ = c.wr.Close(ctx)
		p.svc.WazeroOpen.Add(-1)
		return nil, fmt.Errorf("host module: %w", err)
	}
	return c, nil
}

// closeCode closes p's code, its wazero runtime and with it every module
// compiled or instantiated there.
func (p *Version) closeCode(ctx context.Context) error {
	if p.code == nil {
		return nil
	}
	p.svc.WazeroOpen.Add(-1)
	return p.code.Close(ctx)
}

// releaseCode hands p's code to the runtime's kept codes when p opened
// completely and its every instance is closed, so that no guest runs in
// it any more; otherwise it closes it.
func (p *Version) releaseCode(ctx context.Context, poolErr error) error {
	if p.code == nil || !p.opened || poolErr != nil || len(p.LiveInstances()) > 0 || p.svc.Bg.Err() != nil {
		return p.closeCode(ctx)
	}
	p.svc.WazeroOpen.Add(-1)
	p.code.env.p.Store(nil) // no instance can call; do not pin p and its file
	p.svc.Kept.Put(ctx, p.code.key, p.code.mod.Size, p.code)
	return nil
}

// Close closes the code's wazero runtime. It implements
// codecache.Closer.
func (c *code) Close(ctx context.Context) error {
	return c.wr.Close(context.WithoutCancel(ctx))
}

// Label values of neuron_plugin_opens_total, and of the code attribute of
// the "processor loaded" log line: where an opened version's compiled
// module came from.
const (
	CodeCompiled = "compiled"
	CodeKept     = "kept"
)

// CodeSource says where p's code came from: CodeKept or CodeCompiled.
func (p *Version) CodeSource() string {
	if p.codeKept {
		return CodeKept
	}
	return CodeCompiled
}

// Interruptible reports whether p's code was instrumented for
// interruption (see internal/interrupt), rather than stopped by wazero's
// slower context watch.
func (p *Version) Interruptible() bool { return p.code.key.interruptible }
