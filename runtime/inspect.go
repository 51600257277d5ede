package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/empirefederation/neuron/host"
	"github.com/empirefederation/neuron/sdk/abi"
)

// Inspection is what Inspect learns of a module without serving it.
type Inspection struct {
	Path     string       `json:"path"`
	Size     int          `json:"size"`
	Digest   string       `json:"sha256"`
	ABI      int          `json:"abiVersion"`
	Manifest abi.Manifest `json:"manifest"`
	// ManifestSource is "export" or the sidecar file's path.
	ManifestSource string `json:"manifestSource"`
	// Interruptible says the module could be instrumented so that a call
	// past its deadline is stopped cheaply; see internal/interrupt.
	Interruptible bool     `json:"interruptible"`
	Limits        Limits   `json:"limits"` // effective: defaults < manifest
	Exports       []string `json:"exports"`
	Imports       []string `json:"imports"`
}

// Inspect checks the module at path against the ABI exactly as loading it
// with the default configuration would (compile, exports, ABI version,
// manifest, limits within DefaultMaxLimits), then starts one instance to
// prove it initializes. Each piece of guest code runs under the default
// start timeout, and stops when ctx ends (a signal). It serves nothing.
// cacheDir, when not empty, holds a compilation cache.
func Inspect(ctx context.Context, path, cacheDir string) (*Inspection, error) {
	cache := wazero.NewCompilationCache()
	if cacheDir != "" {
		if c, err := wazero.NewCompilationCacheWithDir(cacheDir); err == nil {
			cache = c
		}
	}
	defer cache.Close(ctx)
	bin, err := readBinary(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	r := newWazeroRuntime(ctx, cache, DefaultLimits.MemoryPages, bin.interruptible)
	defer r.Close(ctx)
	if _, err := host.Instantiate(ctx, r, inspectEnv{}); err != nil {
		return nil, err
	}
	m, compiled, err := readModule(ctx, r, bin, func(string) time.Duration { return DefaultLimits.StartTimeout })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	limits := DefaultLimits.Override(limitsFromManifest(m.Manifest.Limits))
	if err := errors.Join(beyondManifest(limits, DefaultMaxLimits), limits.validate()); err != nil {
		return nil, fmt.Errorf("%s: limits: %w", filepath.Base(path), err)
	}
	mod, cc, _, err := instantiate(ctx, r, compiled, moduleConfig(), limits.StartTimeout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	cc.release()
	_ = mod.Close(ctx)
	src := "export " + abi.ExportManifest
	if m.Sidecar != "" {
		src = m.Sidecar
	}
	return &Inspection{Path: path, Size: m.Size, Digest: m.Digest, ABI: abi.Version, Manifest: m.Manifest,
		ManifestSource: src, Interruptible: bin.interruptible, Limits: limits, Exports: m.Exports, Imports: m.Imports}, nil
}

// inspectEnv serves the host functions while a module is inspected: an
// empty config, and logs, metrics and events dropped.
type inspectEnv struct{}

func (inspectEnv) Logger() *slog.Logger              { return slog.New(slog.DiscardHandler) }
func (inspectEnv) Config() []byte                    { return []byte("{}") }
func (inspectEnv) AddMetric(string, float64) bool    { return true }
func (inspectEnv) Emit(string, json.RawMessage) bool { return true }
