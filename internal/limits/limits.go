package limits

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/empirefederation/neuron/sdk/abi"
)

// Limits bound what one processor may use. A zero field means "inherit": the
// effective limits of a processor are the neuron's defaults, overridden by
// the processor's manifest, overridden by the operator's per-processor
// settings, and none may exceed the operator's maximums
// (runtime.Options.MaxLimits). See docs/design.md, "Who sets a processor's
// limits?".
//
// The configuration keys of the fields ("memoryPages", ...) are those of
// the manifest's abi.Limits; Map, FromMap and the JSON form use them.
type Limits struct {
	// MemoryPages caps each instance's linear memory, in 64 KiB pages.
	MemoryPages uint32
	// CallTimeout stops a handler call that runs longer; the instance is
	// discarded and the caller gets 504.
	CallTimeout time.Duration
	// MaxBodyBytes refuses larger request bodies with 413.
	MaxBodyBytes int64
	// MaxResponseBytes refuses larger encoded responses with 502.
	MaxResponseBytes int64
	// PoolMin instances are created at load and kept ready.
	PoolMin int
	// PoolMax instances exist at most.
	PoolMax int
	// PoolQueue callers wait at most for an instance; more get 503 at once.
	PoolQueue int
	// StartTimeout bounds each piece of guest code run to start an
	// instance or check a module: _initialize (and the module's start
	// function), the load-time probe of its ABI version and manifest, and
	// its self-test. It is the operator's alone (a manifest cannot set
	// it): it is how long one bad file can hold up the load of the others.
	StartTimeout time.Duration
}

// Default returns the limits of a processor that nothing overrides.
//
// StartTimeout: a Go guest's instantiate and _initialize take about 10 ms
// (examples/hello, examples/dataprocessor, on a shared 2-core machine
// under load); 5 s leaves a margin of several hundred times for a slower
// guest or a busier machine, and is the most one looping file delays the
// sync it is part of. See docs/design.md, "How long may a processor take
// to start?".
func Default() Limits {
	return Limits{
		MemoryPages:      2048, // 128 MiB
		CallTimeout:      10 * time.Second,
		MaxBodyBytes:     4 << 20,
		MaxResponseBytes: 8 << 20,
		PoolMin:          1,
		PoolMax:          8,
		PoolQueue:        256,
		StartTimeout:     5 * time.Second,
	}
}

// DefaultMax returns the operator's maximums when the configuration sets
// none (runtime.Options.MaxLimits, the maxLimits block): what a
// processor's manifest may ask for at most. Each instance reserves its
// memory limit as address space and takes kernel memory maps, so the
// instance counts are what keeps a manifest from exhausting the process.
func DefaultMax() Limits {
	return Limits{
		MemoryPages:      16384, // 1 GiB
		CallTimeout:      5 * time.Minute,
		MaxBodyBytes:     64 << 20,
		MaxResponseBytes: 64 << 20,
		PoolMin:          16,
		PoolMax:          64,
		PoolQueue:        4096,
		StartTimeout:     time.Minute,
	}
}

// HardMax returns the most the neuron accepts from anyone: an operator's
// maximums beyond them are refused. A Wasm32 memory has 65536 pages at
// most; the instance counts stay well below the kernel's default limit of
// 65530 memory maps per process (each instance takes two).
func HardMax() Limits {
	return Limits{
		MemoryPages:      65536, // 4 GiB
		CallTimeout:      time.Hour,
		MaxBodyBytes:     1 << 30,
		MaxResponseBytes: 1 << 30,
		PoolMin:          1024,
		PoolMax:          1024,
		PoolQueue:        1 << 20,
		StartTimeout:     10 * time.Minute,
	}
}

// FromManifest converts a manifest's limits: the one place where the
// guest's abi.Limits become the host's. A manifest has no start timeout:
// that is the operator's.
func FromManifest(m abi.Limits) Limits {
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

// field is one field of Limits, by its configuration key.
type field struct {
	key string
	get func(Limits) int64
	set func(*Limits, int64) // set(l, 0) makes the field "inherit"
	dur bool                 // a time.Duration, printed as one
}

// fields are every field of Limits, in the order errors list them.
var fields = [...]field{
	{"memoryPages", func(l Limits) int64 { return int64(l.MemoryPages) }, func(l *Limits, v int64) { l.MemoryPages = uint32(v) }, false},
	{"callTimeout", func(l Limits) int64 { return int64(l.CallTimeout) }, func(l *Limits, v int64) { l.CallTimeout = time.Duration(v) }, true},
	{"maxBodyBytes", func(l Limits) int64 { return l.MaxBodyBytes }, func(l *Limits, v int64) { l.MaxBodyBytes = v }, false},
	{"maxResponseBytes", func(l Limits) int64 { return l.MaxResponseBytes }, func(l *Limits, v int64) { l.MaxResponseBytes = v }, false},
	{"poolMin", func(l Limits) int64 { return int64(l.PoolMin) }, func(l *Limits, v int64) { l.PoolMin = int(v) }, false},
	{"poolMax", func(l Limits) int64 { return int64(l.PoolMax) }, func(l *Limits, v int64) { l.PoolMax = int(v) }, false},
	{"poolQueue", func(l Limits) int64 { return int64(l.PoolQueue) }, func(l *Limits, v int64) { l.PoolQueue = int(v) }, false},
	{"startTimeout", func(l Limits) int64 { return int64(l.StartTimeout) }, func(l *Limits, v int64) { l.StartTimeout = time.Duration(v) }, true},
}

func (f field) format(v int64) string {
	if f.dur {
		return time.Duration(v).String()
	}
	return strconv.FormatInt(v, 10)
}

// Map returns l by configuration key: durations as time.Duration, every
// other field as int64, the values package config's checks produce.
func (l Limits) Map() map[string]any {
	m := make(map[string]any, len(fields))
	for _, f := range fields {
		if f.dur {
			m[f.key] = time.Duration(f.get(l))
		} else {
			m[f.key] = f.get(l)
		}
	}
	return m
}

// FromMap is the inverse of Map: it reads the limits a configuration
// mapping sets, each a time.Duration or an integer; absent keys are zero.
// An unknown key or a value of another type is an error naming the key.
func FromMap(m map[string]any) (Limits, error) {
	var l Limits
	known := 0
	for _, f := range fields {
		v, ok := m[f.key]
		if !ok {
			continue
		}
		known++
		switch v := v.(type) {
		case time.Duration:
			f.set(&l, int64(v))
		case int64:
			f.set(&l, v)
		case int:
			f.set(&l, int64(v))
		default:
			return Limits{}, fmt.Errorf("limits: %s: %T is not a number or a duration", f.key, v)
		}
	}
	if known != len(m) {
		for k := range m {
			if !isKey(k) {
				return Limits{}, fmt.Errorf("limits: unknown key %q", k)
			}
		}
	}
	return l, nil
}

// isKey reports whether key is the configuration key of a field.
func isKey(key string) bool {
	for _, f := range fields {
		if f.key == key {
			return true
		}
	}
	return false
}

// Keep returns l with the fields whose configuration key keep refuses set
// to zero ("inherit"), such as those only a built-in default set.
func (l Limits) Keep(keep func(key string) bool) Limits {
	for _, f := range fields {
		if !keep(f.key) {
			f.set(&l, 0)
		}
	}
	return l
}

// MarshalJSON writes l as a manifest and the configuration write limits:
// by their keys, durations as strings such as "10s", so that `neuron
// plugin inspect --json` and the admin answers read like the files that
// set them.
func (l Limits) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, f.key)
		b = append(b, ':')
		if f.dur {
			b = strconv.AppendQuote(b, time.Duration(f.get(l)).String())
		} else {
			b = strconv.AppendInt(b, f.get(l), 10)
		}
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads what MarshalJSON writes; absent keys are zero.
func (l *Limits) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*l = Limits{}
	for _, f := range fields {
		raw, ok := m[f.key]
		if !ok {
			continue
		}
		var v int64
		if f.dur {
			var d abi.Duration
			if err := json.Unmarshal(raw, &d); err != nil {
				return fmt.Errorf("%s: %w", f.key, err)
			}
			v = int64(d)
		} else if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("%s: %w", f.key, err)
		}
		f.set(l, v)
	}
	return nil
}

// Excess is a limit set above its maximum.
type Excess struct {
	// Key is the limit's configuration key, such as "poolMax".
	Key string
	// Value is what was asked for, Max the maximum, both as configured
	// ("40000", "5m0s").
	Value, Max string
}

// Beyond returns the fields of l set above the same field of maximums, in
// a fixed order; zero fields of l are not compared.
func (l Limits) Beyond(maximums Limits) []Excess {
	var out []Excess
	for _, f := range fields {
		if v, m := f.get(l), f.get(maximums); v > m {
			out = append(out, Excess{Key: f.key, Value: f.format(v), Max: f.format(m)})
		}
	}
	return out
}

// ClampTo returns l with every field above maximums lowered to it: the
// built-in defaults give way to an operator's lower maximums, where a
// value the operator set is refused instead (see runtime.Options.MaxLimits).
func (l Limits) ClampTo(maximums Limits) Limits {
	return Limits{
		MemoryPages:      min(l.MemoryPages, maximums.MemoryPages),
		CallTimeout:      min(l.CallTimeout, maximums.CallTimeout),
		MaxBodyBytes:     min(l.MaxBodyBytes, maximums.MaxBodyBytes),
		MaxResponseBytes: min(l.MaxResponseBytes, maximums.MaxResponseBytes),
		PoolMin:          min(l.PoolMin, maximums.PoolMin, maximums.PoolMax),
		PoolMax:          min(l.PoolMax, maximums.PoolMax),
		PoolQueue:        min(l.PoolQueue, maximums.PoolQueue),
		StartTimeout:     min(l.StartTimeout, maximums.StartTimeout),
	}
}

// Override returns l with every non-zero field of o in place of its own.
func (l Limits) Override(o Limits) Limits {
	for _, f := range fields {
		if v := f.get(o); v != 0 {
			f.set(&l, v)
		}
	}
	return l
}

// Validate checks limits after every override is applied.
func (l Limits) Validate() error {
	var errs []error
	if l.MemoryPages == 0 || l.MemoryPages > 65536 {
		errs = append(errs, fmt.Errorf("memoryPages %d: must be 1..65536", l.MemoryPages))
	}
	if l.CallTimeout <= 0 || l.CallTimeout > time.Hour {
		errs = append(errs, fmt.Errorf("callTimeout %s: must be positive and at most 1h", l.CallTimeout))
	}
	if l.StartTimeout <= 0 {
		errs = append(errs, fmt.Errorf("startTimeout %s: must be positive", l.StartTimeout))
	}
	if l.MaxBodyBytes <= 0 || l.MaxResponseBytes <= 0 {
		errs = append(errs, errors.New("maxBodyBytes and maxResponseBytes must be positive"))
	}
	if l.PoolMin < 0 || l.PoolMax < 1 || l.PoolMin > l.PoolMax || l.PoolQueue < 0 {
		errs = append(errs, fmt.Errorf("pool min %d, max %d, queue %d: need 0 <= min <= max, max >= 1, queue >= 0", l.PoolMin, l.PoolMax, l.PoolQueue))
	}
	return errors.Join(errs...)
}

// ValidateMax checks the operator's maximums: each positive, and within
// HardMax. Unlike limits, a maximum poolMin may exceed the maximum
// poolMax: the processor's own limits must still have min <= max.
func (l Limits) ValidateMax() error {
	var errs []error
	for _, f := range fields {
		if f.get(l) <= 0 {
			errs = append(errs, fmt.Errorf("maxLimits.%s %s: must be positive", f.key, f.format(f.get(l))))
		}
	}
	for _, x := range l.Beyond(HardMax()) {
		errs = append(errs, fmt.Errorf("maxLimits.%s %s is above the neuron's hard maximum %s", x.Key, x.Value, x.Max))
	}
	return errors.Join(errs...)
}
