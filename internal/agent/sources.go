package agent

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/internal/oci"
	"github.com/empirefederation/neuron/internal/ociref"
	"github.com/empirefederation/neuron/internal/sources"
	"github.com/empirefederation/neuron/runtime"
)

// Retries of a declared reference that could not be pulled at start and
// was never stored follow sourcesRetry (from 1 s, doubling up to 5 min,
// jittered so that a fleet whose registry was down does not come back to
// it in lockstep), until it is pulled or the neuron stops. At start the declared references are fetched within
// sourcesStartTimeout all told, so that a registry that accepts
// connections but does not answer delays /ready by that at most; what it
// cut short is retried in the background like a registry down.
const sourcesStartTimeout = time.Minute

var sourcesRetry = federation.Backoff{Base: time.Second, Max: 5 * time.Minute}

// SourcesDir is where a neuron configured with cfg keeps the processors it
// pulled from OCI registries: DATA/sources.
func SourcesDir(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "sources") }

// sourcesLoop is the background work on pulled processors: retrying the
// declared references missing at start, and the poll of tags.
type sourcesLoop struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// openSources opens the store of pulled processors (DATA/sources), before
// the controller whose commands pull into it.
func (a *Agent) openSources(context.Context) error {
	var err error
	a.sources, err = sources.Open(sources.Options{
		Dir: SourcesDir(a.cfg),
		Registry: &oci.Client{Insecure: a.cfg.InsecureRegistries, Hosts: a.cfg.PluginHosts, Log: a.log,
			UserAgent: "neuron/" + a.cfg.BuildVersion},
		Verifier: a.cfg.Trust,
		Log:      a.log,
		Events:   a.sourceEvent,
	})
	return err
}

// pullSources makes the store hold what pluginSources declare, before the
// processors are loaded (and so before /ready): declared references no
// longer in the configuration are removed, the others fetched at once. A
// reference whose registry fails is served from the store when an earlier
// start pulled it; one never pulled is left to pollSources, which retries
// it. The neuron starts either way: see docs/design.md, "Why does a
// neuron start without a declared processor it cannot pull?".
func (a *Agent) pullSources(ctx context.Context) error {
	gone, err := a.sources.Prune(a.cfg.PluginSources)
	for _, e := range gone {
		a.log.Info("pulled processor no longer declared in pluginSources: removed", "ref", e.Ref, "digest", e.Digest)
	}
	if err != nil {
		a.log.Warn("sources directory: a processor no longer declared could not be removed", "err", err)
	}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	ctx, cancel := context.WithTimeout(ctx, sourcesStartTimeout)
	defer cancel()
	for _, ref := range a.cfg.PluginSources {
		wg.Go(func() {
			if _, err := a.sources.Fetch(ctx, ref, sources.Want{Origin: sources.Declared}); err == nil {
				return
			}
			if e, ok := a.sources.Get(ref); ok {
				a.log.Warn("serving the processor pulled before: the pull failed", "ref", ref, "digest", e.Digest)
				return
			}
			a.log.Error("declared processor not pulled: the neuron starts without it and retries in the background", "ref", ref)
			mu.Lock()
			a.missing = append(a.missing, ref)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(a.missing)
	return nil
}

// pollSources starts, once the processors are loaded, the retries of the
// declared references missing and, with pluginSourcesPoll, the poll that
// resolves every tag stored and swaps in one that moved.
func (a *Agent) pollSources(ctx context.Context) error {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.sourcesLoop = &sourcesLoop{cancel: cancel}
	if len(a.missing) > 0 {
		a.sourcesLoop.wg.Go(func() { a.retrySources(ctx, a.missing) })
	}
	if p := a.cfg.PluginSourcesPoll; p > 0 {
		a.sourcesLoop.wg.Go(func() {
			t := time.NewTicker(p)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					a.refreshSources(ctx)
				}
			}
		})
	}
	return nil
}

// stopSources stops the retries and the poll, waiting for a pull or a
// sync in progress (whose context ends).
func (a *Agent) stopSources(context.Context) error {
	if a.sourcesLoop != nil {
		a.sourcesLoop.cancel()
		a.sourcesLoop.wg.Wait()
	}
	return nil
}

// retrySources fetches refs again, with backoff, until each is stored;
// each one stored is swapped in.
func (a *Agent) retrySources(ctx context.Context, refs []string) {
	for attempt := 0; len(refs) > 0; attempt++ {
		if sourcesRetry.Wait(ctx, attempt, 0) != nil {
			return
		}
		pulled := false
		refs = slices.DeleteFunc(refs, func(ref string) bool {
			_, err := a.sources.Fetch(ctx, ref, sources.Want{Origin: sources.Declared})
			pulled = pulled || err == nil
			return err == nil
		})
		if pulled {
			a.syncSources(ctx)
		}
	}
}

// refreshSources fetches every tag the store holds (a pinned reference
// never moves) and swaps in those that moved.
func (a *Agent) refreshSources(ctx context.Context) {
	changed := false
	for _, e := range a.sources.Entries() {
		if r, err := ociref.Parse(e.Ref); err != nil || r.Pinned() {
			continue
		}
		res, err := a.sources.Fetch(ctx, e.Ref, sources.Want{Origin: e.Origin})
		changed = changed || err == nil && res.Changed
	}
	if changed {
		a.syncSources(ctx)
	}
}

// syncSources swaps in what the store now holds, as the watcher does for
// the plugins directory.
func (a *Agent) syncSources(ctx context.Context) {
	if err := a.syncPlugins(ctx); err != nil && ctx.Err() == nil {
		a.log.Error("sync after a pull failed", "err", err)
	}
}

// sourceEvent turns the store's events into analytics events, and asks
// the federation link to re-register after a pull (the registration's
// sources metadata names the digests).
func (a *Agent) sourceEvent(typ string, data map[string]string) {
	b, _ := json.Marshal(data) // a map of strings always encodes
	a.events.Record(federation.Event{Type: typ, Timestamp: time.Now(), Data: b})
	if l := a.fed.Load(); l != nil && typ == sources.EventPulled {
		l.RegistrationChanged()
	}
}

// runningSources are the references whose pulled module the runtime has
// loaded, as REF@DIGEST (the artifact's digest): the registration's
// sources metadata.
func (a *Agent) runningSources() []string {
	var out []string
	loaded := a.rt.Processors()
	for _, e := range a.sources.Entries() {
		file := a.sources.File(e)
		if slices.ContainsFunc(loaded, func(p runtime.ProcessorInfo) bool { return p.File == file && p.Digest == e.Module }) && e.Digest != "" {
			out = append(out, e.Ref+"@"+e.Digest)
		}
	}
	return out
}
