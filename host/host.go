// Package host is the host module that processors import as
// "neuron:host/v1": structured logging, the processor's configuration,
// custom metrics and analytics events.
//
// Each loaded processor version has its own wazero.Runtime, so the module is
// instantiated once per processor with that processor's Env:
//
//	r := wazero.NewRuntime(ctx)
//	defer r.Close(ctx)
//	host.MustInstantiate(ctx, r, env)
//
// Every function treats guest pointers as hostile: a pointer or length
// outside guest memory makes the function return abi.ErrCodeBadPointer; no
// host function panics or traps the guest. See docs/abi.md.
//
// It owns only the host functions: what a processor's logs, metrics and
// events become, and its configuration, is the caller's Env. It must not
// import the runtime (which instantiates it per processor) nor know of
// pools, routing or versions; of the neuron it imports only sdk/abi, the
// contract the guest's SDK imports too.
package host

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/empirefederation/neuron/sdk/abi"
)

// Env is what the host functions need from the processor they serve. Its
// methods are called concurrently from every instance of the processor.
type Env interface {
	// Logger receives the processor's log lines.
	Logger() *slog.Logger
	// Config returns the processor's current configuration as a JSON object.
	// The host reads it on every call, so a configuration change reaches
	// running instances without a restart.
	Config() []byte
	// AddMetric adds v to the processor's custom counter name. It reports
	// false, adding nothing, when the processor may not have that counter
	// (it has as many as the host allows): the guest gets
	// abi.ErrCodeLimit.
	AddMetric(name string, v float64) bool
	// Emit records an analytics event whose data is a JSON object. It
	// reports false, recording nothing, when the processor may emit no
	// more of it (a host cap on its events): the guest gets
	// abi.ErrCodeLimit.
	Emit(eventType string, data json.RawMessage) bool
}

// Instantiate adds the "neuron:host/v1" module to r, bound to env. Closing r
// closes the module.
func Instantiate(ctx context.Context, r wazero.Runtime, env Env) (api.Closer, error) {
	return NewBuilder(r, env).Instantiate(ctx)
}

// MustInstantiate calls Instantiate and panics on error. It is for tests and
// examples whose setup cannot fail.
func MustInstantiate(ctx context.Context, r wazero.Runtime, env Env) {
	if _, err := Instantiate(ctx, r, env); err != nil {
		panic(err)
	}
}

// NewBuilder returns a builder of the host module with every function of
// this package, for callers that add functions of their own before
// instantiating it.
func NewBuilder(r wazero.Runtime, env Env) wazero.HostModuleBuilder {
	b := r.NewHostModuleBuilder(abi.ImportModule)
	i32, f64 := api.ValueTypeI32, api.ValueTypeF64
	export(b, abi.FuncLog, logFunc(env), []api.ValueType{i32, i32, i32}, nil)
	export(b, abi.FuncConfig, configFunc(env), []api.ValueType{i32, i32}, []api.ValueType{i32})
	export(b, abi.FuncMetricAdd, metricAddFunc(env), []api.ValueType{i32, i32, f64}, []api.ValueType{i32})
	export(b, abi.FuncEventEmit, eventEmitFunc(env), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32})
	export(b, abi.FuncCaller, callerFunc(), []api.ValueType{i32, i32}, []api.ValueType{i32})
	return b
}

func export(b wazero.HostModuleBuilder, name string, fn api.GoModuleFunc, params, results []api.ValueType) {
	b.NewFunctionBuilder().WithGoModuleFunction(fn, params, results).WithName(name).Export(name)
}

// read returns the guest bytes [ptr, ptr+n), or false when they are outside
// guest memory. The slice aliases guest memory: copy what is kept.
func read(m api.Module, ptr, n uint64) ([]byte, bool) {
	mem := memory(m)
	if mem == nil {
		return nil, false
	}
	return mem.Read(uint32(ptr), uint32(n))
}

// memory returns the guest's memory, or nil if it has none. For a module
// without one, wazero's Memory returns a nil pointer in a non-nil
// api.Memory, whose methods panic.
func memory(m api.Module) api.Memory {
	mem := m.Memory()
	if mem == nil {
		return nil
	}
	if v := reflect.ValueOf(mem); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	return mem
}

// status encodes an i32 status for the stack.
func status(code int32) uint64 { return api.EncodeI32(code) }
