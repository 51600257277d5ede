package host

import (
	"context"
	"math"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/empirefederation/neuron/sdk/abi"
)

// metricAddFunc implements abi.FuncMetricAdd: (name_ptr, name_len, value) -> status.
// Counters only go up: a negative, NaN or infinite value is refused. The
// name must be UTF-8: hosts use it as a metrics label value.
func metricAddFunc(env Env) api.GoModuleFunc {
	return func(_ context.Context, m api.Module, stack []uint64) {
		v := api.DecodeF64(stack[2])
		name, ok := read(m, stack[0], stack[1])
		switch {
		case !ok:
			stack[0] = status(abi.ErrCodeBadPointer)
		case len(name) == 0 || !utf8.Valid(name) || v < 0 || math.IsNaN(v) || math.IsInf(v, 0):
			stack[0] = status(abi.ErrCodeInvalid)
		case len(name) > abi.MaxNameBytes:
			stack[0] = status(abi.ErrCodeLimit)
		case !env.AddMetric(string(name), v):
			stack[0] = status(abi.ErrCodeLimit)
		default:
			stack[0] = status(abi.OK)
		}
	}
}
