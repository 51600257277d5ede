package runtime

import (
	"cmp"
	"maps"
	"slices"

	"github.com/empirefederation/neuron/internal/pool"
	"github.com/empirefederation/neuron/internal/processor"
	"github.com/empirefederation/neuron/internal/route"
	"github.com/empirefederation/neuron/sdk/abi"
)

// ProcessorInfo describes one loaded processor version. Name, Version and
// Digest identify it everywhere (logs, events, metrics, inspect).
type ProcessorInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Digest  string `json:"sha256"`
	File    string `json:"file"`
	Serving bool   `json:"serving"` // takes traffic; other versions stand by
	// Pinned is true for the version a Rollback pinned to serve; File is
	// then possibly in the archive rather than the plugins directory.
	Pinned   bool               `json:"pinned,omitempty"`
	Manifest abi.Manifest       `json:"-"`
	Limits   Limits             `json:"limits"`
	Pool     pool.Stats         `json:"pool"`
	Custom   map[string]float64 `json:"customMetrics,omitempty"`
}

// Processors lists the processor versions loaded now, in file order, then
// the versions served from the archive for a pin.
func (rt *Runtime) Processors() []ProcessorInfo {
	s := rt.srv.Current.Load()
	infos := make([]ProcessorInfo, 0, len(s.Procs))
	for _, p := range s.Procs {
		infos = append(infos, processorInfo(s, p))
	}
	return infos
}

// info describes p as s serves it.
func processorInfo(s *route.Snapshot, p *processor.Version) ProcessorInfo {
	serving := s.Serving[p.Name()] == p
	return ProcessorInfo{
		Name: p.Name(), Version: p.Version(), Digest: p.Mod.Digest, File: p.Mod.Path,
		Serving: serving, Pinned: serving && s.Pinned[p.Name()], Manifest: p.Mod.Manifest, Limits: p.Limits,
		Pool: p.Pool.Stats(), Custom: p.Record.CustomMetrics(),
	}
}

// Endpoints lists the endpoints served now, sorted by path then method.
func (rt *Runtime) Endpoints() []abi.Endpoint {
	s := rt.srv.Current.Load()
	var eps []abi.Endpoint
	for _, name := range slices.Sorted(maps.Keys(s.Serving)) {
		eps = append(eps, s.Serving[name].Mod.Manifest.Endpoints...)
	}
	slices.SortFunc(eps, func(a, b abi.Endpoint) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Method, b.Method))
	})
	return eps
}

// Ready reports whether the plugins directory has been loaded and the
// runtime is not closed.
func (rt *Runtime) Ready() bool { return rt.loaded.Load() && !rt.closed.Load() }

// Caps on what one processor version's custom counters and events can
// make the host keep (see processor.MaxCustomMetrics), and the keys of
// ProcessorInfo.Custom that count what they dropped.
const (
	MaxCustomMetrics     = processor.MaxCustomMetrics
	MaxEventTypes        = processor.MaxEventTypes
	CustomDroppedMetrics = processor.CustomDroppedMetrics
	CustomDroppedEvents  = processor.CustomDroppedEvents
)
