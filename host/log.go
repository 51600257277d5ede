package host

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/tetratelabs/wazero/api"

	"github.com/empirefederation/neuron/sdk/abi"
)

// logFunc implements abi.FuncLog: (level, ptr, len). A message that is a JSON
// object logs its "msg" field as the message and every other field as an
// attribute; anything else is logged as plain text.
func logFunc(env Env) api.GoModuleFunc {
	return func(ctx context.Context, m api.Module, stack []uint64) {
		level := slog.Level(api.DecodeI32(stack[0]))
		b, ok := read(m, stack[1], stack[2])
		logger := env.Logger()
		if !ok {
			logger.Warn("guest log call with a pointer outside its memory", "ptr", uint32(stack[1]), "len", uint32(stack[2]))
			return
		}
		if !logger.Enabled(ctx, level) {
			return
		}
		if len(b) > abi.MaxLogBytes {
			b = b[:abi.MaxLogBytes]
		}
		msg, attrs := parseLog(b)
		logger.LogAttrs(ctx, level, msg, attrs...)
	}
}

// parseLog splits a guest log line into its message and attributes.
func parseLog(b []byte) (string, []slog.Attr) {
	if len(b) == 0 || b[0] != '{' {
		return string(b), nil
	}
	var fields map[string]any
	if json.Unmarshal(b, &fields) != nil {
		return string(b), nil
	}
	msg, _ := fields["msg"].(string)
	delete(fields, "msg")
	attrs := make([]slog.Attr, 0, len(fields))
	for k, v := range fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	return msg, attrs
}
