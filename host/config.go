package host

import (
	"context"

	"github.com/tetratelabs/wazero/api"

	"github.com/empirefederation/neuron/sdk/abi"
)

// configFunc implements abi.FuncConfig: (ptr, cap) -> len. The whole config
// is copied when it fits in cap bytes; its length is returned either way so
// the guest can grow its buffer and call again.
func configFunc(env Env) api.GoModuleFunc {
	return func(_ context.Context, m api.Module, stack []uint64) {
		cfg := env.Config()
		ptr, capacity := uint32(stack[0]), uint32(stack[1])
		if uint64(len(cfg)) > uint64(capacity) {
			stack[0] = api.EncodeI32(int32(len(cfg)))
			return
		}
		if !m.Memory().Write(ptr, cfg) {
			stack[0] = status(abi.ErrCodeBadPointer)
			return
		}
		stack[0] = api.EncodeI32(int32(len(cfg)))
	}
}
