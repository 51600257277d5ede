package host

import (
	"context"

	"github.com/tetratelabs/wazero/api"

	"github.com/empirefederation/neuron/sdk/abi"
)

// configFunc implements abi.FuncConfig: (ptr, cap) -> len. The whole config
// is copied when it fits in cap bytes; its length is returned either way so
// the guest can grow its buffer and call again. The buffer must lie in guest
// memory even when the config does not fit. A call whose context is a
// CallConfigurer with a configuration sees that one instead of env's.
func configFunc(env Env) api.GoModuleFunc {
	return copyOut(func(ctx context.Context) []byte {
		if c, ok := ctx.(CallConfigurer); ok {
			if cfg := c.CallConfig(); cfg != nil {
				return cfg
			}
		}
		return env.Config()
	})
}

// callerFunc implements abi.FuncCaller, as configFunc does FuncConfig: the
// call's verified caller, or {} without one.
func callerFunc() api.GoModuleFunc {
	return copyOut(func(ctx context.Context) []byte {
		if c, ok := ctx.(CallerIdentifier); ok {
			if b := c.CallCaller(); b != nil {
				return b
			}
		}
		return noCaller
	})
}

// noCaller is the caller of a call that carries none.
var noCaller = []byte("{}")

// copyOut is a host function (ptr, cap) -> len that copies what get
// returns into the guest's buffer when it fits, and returns its length
// either way, so that the guest can grow its buffer and call again. The
// buffer must lie in guest memory even when the value does not fit.
func copyOut(get func(ctx context.Context) []byte) api.GoModuleFunc {
	return func(ctx context.Context, m api.Module, stack []uint64) {
		buf, ok := read(m, stack[0], stack[1])
		if !ok {
			stack[0] = status(abi.ErrCodeBadPointer)
			return
		}
		b := get(ctx)
		if len(b) <= len(buf) {
			copy(buf, b) // buf is a view of guest memory
		}
		stack[0] = api.EncodeI32(int32(len(b)))
	}
}

// CallConfigurer is implemented by the context of a guest call that must see
// a configuration of its own rather than its processor's (Env.Config): an
// experiment's variant laying its config over the processor's for the
// calls routed to it. The host module is instantiated once per processor,
// so the call's context is the only per-call channel it has.
type CallConfigurer interface {
	// CallConfig returns the JSON object the call sees, or nil for the
	// processor's own configuration.
	CallConfig() []byte
}

// CallerIdentifier is implemented by the context of a guest call: who
// calls, as the request path verified it, for abi.FuncCaller.
type CallerIdentifier interface {
	// CallCaller returns the JSON object of the call's caller, or nil
	// when it has none.
	CallCaller() []byte
}
