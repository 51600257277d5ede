package host

import (
	"context"

	"github.com/tetratelabs/wazero/api"

	"github.com/empirefederation/neuron/sdk/abi"
)

// configFunc implements abi.FuncConfig: (ptr, cap) -> len. The whole config
// is copied when it fits in cap bytes; its length is returned either way so
// the guest can grow its buffer and call again. The buffer must lie in guest
// memory even when the config does not fit.
func configFunc(env Env) api.GoModuleFunc {
	return func(_ context.Context, m api.Module, stack []uint64) {
		buf, ok := read(m, stack[0], stack[1])
		if !ok {
			stack[0] = status(abi.ErrCodeBadPointer)
			return
		}
		cfg := env.Config()
		if len(cfg) <= len(buf) {
			copy(buf, cfg) // buf is a view of guest memory
		}
		stack[0] = api.EncodeI32(int32(len(cfg)))
	}
}
