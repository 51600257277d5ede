package runtime

import (
	"cmp"
	"maps"
	"slices"

	"github.com/empirefederation/neuron/internal/pool"
	"github.com/empirefederation/neuron/sdk/abi"
)

// ProcessorInfo describes one loaded processor version.
type ProcessorInfo struct {
	Name     string             `json:"name"`
	Version  string             `json:"version"`
	Digest   string             `json:"sha256"`
	File     string             `json:"file"`
	Serving  bool               `json:"serving"` // takes traffic; other versions stand by
	Manifest abi.Manifest       `json:"-"`
	Limits   Limits             `json:"limits"`
	Pool     pool.Stats         `json:"pool"`
	Custom   map[string]float64 `json:"customMetrics,omitempty"`
}

// Processors lists the processor versions loaded now, in file order.
func (rt *Runtime) Processors() []ProcessorInfo {
	s := rt.current.Load()
	infos := make([]ProcessorInfo, 0, len(s.procs))
	for _, p := range s.procs {
		infos = append(infos, ProcessorInfo{
			Name: p.name(), Version: p.version(), Digest: p.mod.Digest, File: p.mod.Path,
			Serving: s.serving[p.name()] == p, Manifest: p.mod.Manifest, Limits: p.limits,
			Pool: p.pool.Stats(), Custom: p.customMetrics(),
		})
	}
	return infos
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
