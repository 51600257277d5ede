package runtime

import (
	"time"

	"github.com/empirefederation/neuron/sdk/abi"
)

// Limits bound what one processor may use. A zero field means "inherit": the
// effective limits of a processor are the neuron's defaults, overridden by
// the processor's manifest, overridden by the operator's per-processor
// settings. See docs/design.md, "Who sets a processor's limits?".
type Limits struct {
	// MemoryPages caps each instance's linear memory, in 64 KiB pages.
	MemoryPages uint32 `koanf:"memoryPages"`
	// CallTimeout stops a handler call that runs longer; the instance is
	// discarded and the caller gets 504.
	CallTimeout time.Duration `koanf:"callTimeout"`
	// MaxBodyBytes refuses larger request bodies with 413.
	MaxBodyBytes int64 `koanf:"maxBodyBytes"`
	// MaxResponseBytes refuses larger encoded responses with 502.
	MaxResponseBytes int64 `koanf:"maxResponseBytes"`
	// PoolMin instances are created at load and kept ready.
	PoolMin int `koanf:"poolMin"`
	// PoolMax instances exist at most.
	PoolMax int `koanf:"poolMax"`
	// PoolQueue callers wait at most for an instance; more get 503 at once.
	PoolQueue int `koanf:"poolQueue"`
}

// DefaultLimits are the limits of a processor that nothing overrides.
var DefaultLimits = Limits{
	MemoryPages:      2048, // 128 MiB
	CallTimeout:      10 * time.Second,
	MaxBodyBytes:     4 << 20,
	MaxResponseBytes: 8 << 20,
	PoolMin:          1,
	PoolMax:          8,
	PoolQueue:        256,
}

// Override returns l with every non-zero field of o in place of its own.
func (l Limits) Override(o Limits) Limits {
	if o.MemoryPages != 0 {
		l.MemoryPages = o.MemoryPages
	}
	if o.CallTimeout != 0 {
		l.CallTimeout = o.CallTimeout
	}
	if o.MaxBodyBytes != 0 {
		l.MaxBodyBytes = o.MaxBodyBytes
	}
	if o.MaxResponseBytes != 0 {
		l.MaxResponseBytes = o.MaxResponseBytes
	}
	if o.PoolMin != 0 {
		l.PoolMin = o.PoolMin
	}
	if o.PoolMax != 0 {
		l.PoolMax = o.PoolMax
	}
	if o.PoolQueue != 0 {
		l.PoolQueue = o.PoolQueue
	}
	return l
}

// limitsFromManifest converts a manifest's limits.
func limitsFromManifest(m abi.Limits) Limits {
	return Limits{
		MemoryPages:      m.MemoryPages,
		CallTimeout:      time.Duration(m.CallTimeout),
		MaxBodyBytes:     m.MaxBodyBytes,
		MaxResponseBytes: m.MaxResponseBytes,
		PoolMin:          m.PoolMin,
		PoolMax:          m.PoolMax,
		PoolQueue:        m.PoolQueue,
	}
}
