package hostcall

// The fake host is compiled on every platform so that package sdktest, and
// with it processors' tests, also compile (and vet) for wasip1.

import (
	"bytes"
	"encoding/json"
	"math"
	"sync"
	"unicode/utf8"

	"github.com/empirefederation/neuron/sdk/abi"
)

// Hooks are set by package sdk so that package sdktest can drive the
// processor the way the host does without sdk exporting its internals. They
// stay nil on wasip1, where the host calls the exports instead.
var (
	// Alloc is the plain function behind the neuron_alloc export.
	Alloc func(size uint32) []byte
	// Handle is the plain function behind the neuron_handle export. Its
	// argument must be a prefix of the buffer Alloc returned.
	Handle func(req []byte) []byte
	// Manifest is the plain function behind the neuron_manifest export.
	Manifest func() []byte
	// SelfTest is the plain function behind the neuron_self_test export: nil
	// on success, else the error message.
	SelfTest func() []byte
)

// LogLine is one call of the log function.
type LogLine struct {
	Level int32
	Msg   []byte
}

// EventRecord is one accepted call of event_emit.
type EventRecord struct {
	Type string
	Data []byte
}

// fakeHost stands in for the host outside wasip1. It is safe for concurrent use.
type fakeHost struct {
	mu      sync.Mutex
	config  []byte
	caller  []byte // {} for none
	logs    []LogLine
	metrics map[string]float64
	events  []EventRecord
	onLog   func(LogLine)
}

var fake = fakeHost{config: []byte("{}"), caller: []byte("{}")}

// Reset forgets what was recorded and sets the config to {}.
func Reset() {
	fake.mu.Lock()
	defer fake.mu.Unlock()
	fake.config, fake.caller = []byte("{}"), []byte("{}")
	fake.logs, fake.metrics, fake.events = nil, nil, nil
}

// SetConfig sets what the config function returns.
func SetConfig(b []byte) {
	fake.mu.Lock()
	defer fake.mu.Unlock()
	fake.config = bytes.Clone(b)
}

// OnLog sets a function called with every log line (nil for none).
func OnLog(f func(LogLine)) {
	fake.mu.Lock()
	defer fake.mu.Unlock()
	fake.onLog = f
}

// Logs returns a copy of the recorded log lines.
func Logs() []LogLine {
	fake.mu.Lock()
	defer fake.mu.Unlock()
	return append([]LogLine(nil), fake.logs...)
}

// Metrics returns a copy of the recorded counters.
func Metrics() map[string]float64 {
	fake.mu.Lock()
	defer fake.mu.Unlock()
	m := make(map[string]float64, len(fake.metrics))
	for k, v := range fake.metrics {
		m[k] = v
	}
	return m
}

// Events returns a copy of the recorded events.
func Events() []EventRecord {
	fake.mu.Lock()
	defer fake.mu.Unlock()
	return append([]EventRecord(nil), fake.events...)
}

// log records a log line, cut at abi.MaxLogBytes like the host does.
func (f *fakeHost) log(level int32, msg []byte) {
	if len(msg) > abi.MaxLogBytes {
		msg = msg[:abi.MaxLogBytes]
	}
	line := LogLine{Level: level, Msg: bytes.Clone(msg)}
	f.mu.Lock()
	f.logs = append(f.logs, line)
	onLog := f.onLog
	f.mu.Unlock()
	if onLog != nil {
		onLog(line)
	}
}

// SetCaller sets who the next calls come from, as the host's caller
// function gives it (JSON; {} for none).
func SetCaller(b []byte) {
	fake.mu.Lock()
	defer fake.mu.Unlock()
	fake.caller = bytes.Clone(b)
}

// readCaller copies the caller as the host's caller function does.
func (f *fakeHost) readCaller(buf []byte) int32 { return f.copyOut(buf, &f.caller) }

// readConfig copies the config as the host's config function does.
func (f *fakeHost) readConfig(buf []byte) int32 { return f.copyOut(buf, &f.config) }

// copyOut copies *b into buf[:cap(buf)] when it fits and returns its
// length either way, as the host's functions that hand out JSON do.
func (f *fakeHost) copyOut(buf []byte, b *[]byte) int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(*b) <= cap(buf) {
		copy(buf[:cap(buf)], *b)
	}
	return int32(len(*b))
}

// metricAdd adds v to the counter name, refusing what the host refuses.
func (f *fakeHost) metricAdd(name string, v float64) int32 {
	switch {
	case name == "" || !utf8.ValidString(name) || v < 0 || math.IsNaN(v) || math.IsInf(v, 0):
		return abi.ErrCodeInvalid
	case len(name) > abi.MaxNameBytes:
		return abi.ErrCodeLimit
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.metrics == nil {
		f.metrics = map[string]float64{}
	}
	f.metrics[name] += v
	return abi.OK
}

// eventEmit records an event, refusing what the host refuses.
func (f *fakeHost) eventEmit(typ string, data []byte) int32 {
	switch {
	case len(typ) > abi.MaxNameBytes || len(data) > abi.MaxEventBytes:
		return abi.ErrCodeLimit
	case typ == "" || !utf8.ValidString(typ) || !isObject(data):
		return abi.ErrCodeInvalid
	}
	if len(data) == 0 {
		data = []byte("{}")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, EventRecord{Type: typ, Data: bytes.Clone(data)})
	return abi.OK
}

// isObject reports whether b is empty or a valid JSON object.
func isObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || b[0] == '{' && json.Valid(b)
}
