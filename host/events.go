package host

import (
	"bytes"
	"context"
	"encoding/json"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/empirefederation/neuron/sdk/abi"
)

// eventEmitFunc implements abi.FuncEventEmit: (type_ptr, type_len, data_ptr, data_len) -> status.
// Data must be a JSON object (or empty, meaning {}). The type must be UTF-8:
// hosts use it as a metrics label value.
func eventEmitFunc(env Env) api.GoModuleFunc {
	return func(_ context.Context, m api.Module, stack []uint64) {
		typ, ok1 := read(m, stack[0], stack[1])
		data, ok2 := read(m, stack[2], stack[3])
		switch {
		case !ok1 || !ok2:
			stack[0] = status(abi.ErrCodeBadPointer)
		case len(typ) > abi.MaxNameBytes || len(data) > abi.MaxEventBytes:
			stack[0] = status(abi.ErrCodeLimit)
		case len(typ) == 0 || !utf8.Valid(typ) || !isObject(data):
			stack[0] = status(abi.ErrCodeInvalid)
		default:
			if len(data) == 0 {
				data = []byte("{}")
			}
			stack[0] = status(abi.OK)
			if !env.Emit(string(typ), bytes.Clone(data)) {
				stack[0] = status(abi.ErrCodeLimit)
			}
		}
	}
}

// isObject reports whether b is empty or a valid JSON object.
func isObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return true
	}
	return b[0] == '{' && json.Valid(b)
}
