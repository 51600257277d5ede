package runtime

import (
	"cmp"
	"maps"
	"slices"

	"github.com/empirefederation/neuron/internal/pool"
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
	s := rt.current.Load()
	infos := make([]ProcessorInfo, 0, len(s.procs))
	for _, p := range s.procs {
		infos = append(infos, s.info(p))
	}
	return infos
}

// info describes p as s serves it.
func (s *snapshot) info(p *processor) ProcessorInfo {
	serving := s.serving[p.name()] == p
	return ProcessorInfo{
		Name: p.name(), Version: p.version(), Digest: p.mod.Digest, File: p.mod.Path,
		Serving: serving, Pinned: serving && s.pinned[p.name()], Manifest: p.mod.Manifest, Limits: p.limits,
		Pool: p.pool.Stats(), Custom: p.state.customMetrics(),
	}
}

// Endpoints lists the endpoints served now, sorted by path then method.
func (rt *Runtime) Endpoints() []abi.Endpoint {
	s := rt.current.Load()
	var eps []abi.Endpoint
	for _, name := range slices.Sorted(maps.Keys(s.serving)) {
		eps = append(eps, s.serving[name].mod.Manifest.Endpoints...)
	}
	slices.SortFunc(eps, func(a, b abi.Endpoint) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Method, b.Method))
	})
	return eps
}

// Ready reports whether the plugins directory has been loaded and the
// runtime is not closed.
func (rt *Runtime) Ready() bool { return rt.loaded.Load() && !rt.closed.Load() }
