package sdk

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/empirefederation/neuron/sdk/abi"
	"github.com/empirefederation/neuron/sdk/internal/hostcall"
)

// Errors the host functions report, for errors.Is.
var (
	// ErrInvalid means the host refused an argument, such as event data
	// that does not encode as a JSON object.
	ErrInvalid = errors.New("host refused an invalid argument")
	// ErrLimit means the call exceeded a host limit, such as the size of
	// event data.
	ErrLimit = errors.New("host limit exceeded")
)

// hostError wraps a host function's status, or returns nil for abi.OK.
func hostError(fn string, code int32) error {
	switch code {
	case abi.OK:
		return nil
	case abi.ErrCodeInvalid:
		return &callError{fn, ErrInvalid}
	case abi.ErrCodeLimit:
		return &callError{fn, ErrLimit}
	}
	return &callError{fn, errors.New("status " + strconv.Itoa(int(code)))}
}

// callError names the host function that failed without needing fmt.
type callError struct {
	fn  string
	err error
}

func (e *callError) Error() string { return "host " + e.fn + ": " + e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// configBuf holds the config JSON between calls of Config, so reading an
// unchanged config allocates nothing but what decoding does.
var configBuf = make([]byte, 0, 1024)

// Config decodes the processor's current configuration, a JSON object, into
// v as json.Unmarshal does: fields absent from the configuration keep their
// values. The configuration holds the defaults declared in Info.Settings,
// with the neuron's settings, the processor's own (plugins.NAME) and the
// federation's updates laid over them; a key declared nowhere is absent
// unless the operator sets it, so set defaults before calling it or
// declare them. The host reads the configuration on every call, so a
// change reaches running instances without a restart; a handler that needs
// it calls Config each time.
func Config(v any) error {
	b, err := configJSON()
	if err != nil || len(b) == 0 {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return &callError{abi.FuncConfig, err}
	}
	return nil
}

// configJSON asks the host for the config, growing configBuf until it fits.
// The result aliases configBuf.
func configJSON() ([]byte, error) {
	for range 3 { // the config may grow between calls, but not forever
		n := hostcall.Config(configBuf[:cap(configBuf)])
		switch {
		case n < 0:
			return nil, hostError(abi.FuncConfig, n)
		case int(n) <= cap(configBuf):
			return configBuf[:n], nil
		}
		configBuf = make([]byte, 0, n)
	}
	return nil, &callError{abi.FuncConfig, errors.New("config keeps growing")}
}

// Count adds v to the processor's custom counter name, which the neuron
// reports to the federation with its analytics. name must be UTF-8, 1 to
// 128 bytes, and v a finite number of at least 0; the host refuses others,
// which Count logs as a warning.
func Count(name string, v float64) {
	if err := hostError(abi.FuncMetricAdd, hostcall.MetricAdd(name, v)); err != nil {
		LogWarn("sdk: count refused", "name", name, "value", v, "error", err)
	}
}

// Emit sends an analytics event of the given type, such as
// "batch_completed". data is encoded by json.Marshal and must encode as a
// JSON object; nil means {}.
//
// # Errors
//
// Emit returns the encoding error, or a host error wrapping ErrInvalid
// (type empty or not UTF-8, data not an object) or ErrLimit (type over 128
// bytes, data over 64 KiB).
func Emit(eventType string, data any) error {
	var b []byte
	if data != nil {
		var err error
		if b, err = json.Marshal(data); err != nil {
			return &callError{abi.FuncEventEmit, err}
		}
	}
	return hostError(abi.FuncEventEmit, hostcall.EventEmit(eventType, b))
}

// Level is the severity of a log line. The values are log/slog's.
type Level int32

// Levels for Log.
const (
	LevelDebug Level = Level(abi.LogDebug)
	LevelInfo  Level = Level(abi.LogInfo)
	LevelWarn  Level = Level(abi.LogWarn)
	LevelError Level = Level(abi.LogError)
)

// logBuf is reused by every Log call.
var logBuf []byte

// Log writes msg and attrs to the neuron's structured log at level. attrs
// alternate keys and values as in log/slog: Log(LevelInfo, "done", "n", 3).
// A key that is not a string is logged as "!BADKEY". Values are encoded as
// JSON; an error is logged as its message. The line is sent as a JSON
// object {"msg": msg, key: value, ...}; the host cuts lines at 16 KiB.
func Log(level Level, msg string, attrs ...any) {
	b := append(logBuf[:0], `{"msg":`...)
	b = appendJSONString(b, msg)
	for len(attrs) > 0 {
		key, ok := attrs[0].(string)
		if !ok || len(attrs) == 1 {
			key, attrs = "!BADKEY", attrs[0:]
		} else {
			attrs = attrs[1:]
		}
		b = append(b, ',')
		b = appendJSONString(b, key)
		b = append(b, ':')
		b = appendJSONValue(b, attrs[0])
		attrs = attrs[1:]
	}
	logBuf = append(b, '}')
	hostcall.Log(int32(level), logBuf)
}

// LogDebug logs at LevelDebug; see Log.
func LogDebug(msg string, attrs ...any) { Log(LevelDebug, msg, attrs...) }

// LogInfo logs at LevelInfo; see Log.
func LogInfo(msg string, attrs ...any) { Log(LevelInfo, msg, attrs...) }

// LogWarn logs at LevelWarn; see Log.
func LogWarn(msg string, attrs ...any) { Log(LevelWarn, msg, attrs...) }

// LogError logs at LevelError; see Log.
func LogError(msg string, attrs ...any) { Log(LevelError, msg, attrs...) }

// appendJSONValue appends v as JSON, without reflection for common types.
func appendJSONValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendJSONString(b, v)
	case bool:
		return strconv.AppendBool(b, v)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case int32:
		return strconv.AppendInt(b, int64(v), 10)
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint64:
		return strconv.AppendUint(b, v, 10)
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return appendJSONString(b, strconv.FormatFloat(v, 'g', -1, 64))
		}
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	case error:
		return appendJSONString(b, v.Error())
	}
	j, err := json.Marshal(v)
	if err != nil {
		return appendJSONString(b, "!ERROR: "+err.Error())
	}
	return append(b, j...)
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
