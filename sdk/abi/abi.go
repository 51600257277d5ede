// Package abi is the contract between the neuron host and a Wasm processor:
// the names of the exports a processor provides, the import module the host
// provides, the ABI version, and the binary layout of requests and responses.
//
// Host and guest both import this package, so the two sides cannot drift. It
// has no dependencies and exports nothing mutable. docs/abi.md describes the
// same contract for authors who write processors in other languages.
package abi

// Version is the ABI version this package describes. A processor reports the
// version it implements through its ExportABIVersion export; the host refuses
// a processor whose version it does not support.
const Version = 1

// ImportModule is the name of the host module a processor imports host
// functions from. The version is part of the name so that a future ABI can
// offer different functions side by side.
const ImportModule = "neuron:host/v1"

// Exports every processor provides.
const (
	// ExportABIVersion is `() -> i32`: the ABI version the processor implements.
	ExportABIVersion = "neuron_abi_version"
	// ExportAlloc is `(size i32) -> i32`: a pointer to size writable bytes that
	// belong to the host until the next call of ExportAlloc. The host writes
	// each request there. Zero means the guest could not allocate.
	ExportAlloc = "neuron_alloc"
)

// Optional exports.
const (
	// ExportManifest is `() -> i64`: the packed pointer and length of the
	// processor's manifest as JSON. A sidecar manifest file next to the module
	// takes precedence; without either the module is refused.
	ExportManifest = "neuron_manifest"
	// ExportInitialize is the WASI reactor initializer. The host calls it once
	// per instance, before any other export.
	ExportInitialize = "_initialize"
	// ExportSelfTest is `() -> i64`: a processor's own check, run before a new
	// version takes traffic. It returns 0 on success or the packed pointer and
	// length of an error message.
	ExportSelfTest = "neuron_self_test"
)

// DefaultHandlerExport is the export an endpoint calls when its manifest
// names none. A handler export is `(ptr i32, len i32) -> i64`: it receives an
// encoded request and returns the packed pointer and length of an encoded
// response. The Go SDK serves every endpoint through this one export and
// dispatches on the request's route.
const DefaultHandlerExport = "neuron_handle"

// Host functions in ImportModule. Every pointer and length is checked by the
// host; a bad one makes the function return ErrCodeBadPointer instead of
// trapping the guest.
const (
	// FuncLog is `(level i32, ptr i32, len i32)`: write a log line at level
	// (LogDebug..LogError) into the host's structured log.
	FuncLog = "log"
	// FuncConfig is `(ptr i32, cap i32) -> i32`: copy the processor's current
	// configuration as a JSON object into [ptr, ptr+cap) and return its full
	// length. When the length exceeds cap nothing is copied; call again with a
	// buffer of that length.
	FuncConfig = "config"
	// FuncMetricAdd is `(name_ptr i32, name_len i32, value f64) -> i32`: add
	// value to the processor's custom counter name.
	FuncMetricAdd = "metric_add"
	// FuncEventEmit is `(type_ptr i32, type_len i32, data_ptr i32, data_len i32) -> i32`:
	// emit an analytics event of the given type with a JSON object as data.
	FuncEventEmit = "event_emit"
	// FuncCaller is `(ptr i32, cap i32) -> i32`, as FuncConfig: copy who
	// calls, as the neuron verified it, as a JSON object
	// {"subject": "...", "scopes": [...]} into [ptr, ptr+cap) and return
	// its full length; {} when the call carries no verified caller (the
	// neuron does not authenticate callers, or the endpoint is public and
	// no token came). The token itself never reaches the guest.
	FuncCaller = "caller"
)

// Log levels accepted by FuncLog. They match log/slog's levels.
const (
	LogDebug int32 = -4
	LogInfo  int32 = 0
	LogWarn  int32 = 4
	LogError int32 = 8
)

// Limits on what one host function call accepts. The host (package host)
// and the SDK's stand-in for it outside Wasm (sdk/internal/hostcall) both
// enforce these, so that a processor that passes its unit tests is not
// refused in production.
const (
	// MaxLogBytes is the longest FuncLog message; longer ones are cut.
	MaxLogBytes = 16 << 10
	// MaxNameBytes is the longest FuncMetricAdd name or FuncEventEmit type;
	// a longer one gets ErrCodeLimit.
	MaxNameBytes = 128
	// MaxEventBytes is the largest FuncEventEmit data; larger gets
	// ErrCodeLimit.
	MaxEventBytes = 64 << 10
)

// Results of host functions that return an i32 status.
const (
	// OK means the host function did what was asked.
	OK int32 = 0
	// ErrCodeBadPointer means a pointer or length was outside guest memory.
	ErrCodeBadPointer int32 = -1
	// ErrCodeInvalid means an argument was malformed, such as data that is not
	// a JSON object or an empty metric name.
	ErrCodeInvalid int32 = -2
	// ErrCodeLimit means the call exceeded a host limit, such as the number of
	// events per call or the length of a name.
	ErrCodeLimit int32 = -3
)

// Pack combines a pointer and a length into the i64 that handler exports
// return: the pointer in the high 32 bits, the length in the low 32 bits.
func Pack(ptr, length uint32) uint64 { return uint64(ptr)<<32 | uint64(length) }

// Unpack splits a value made by Pack.
func Unpack(v uint64) (ptr, length uint32) { return uint32(v >> 32), uint32(v) }
