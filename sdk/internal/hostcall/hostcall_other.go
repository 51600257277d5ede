//go:build !wasip1

package hostcall

// Outside wasip1 the host functions are the fake host's.

// Log records a log line.
func Log(level int32, msg []byte) { fake.log(level, msg) }

// Config copies the configuration into buf[:cap(buf)] when it fits and
// returns its length.
func Config(buf []byte) int32 { return fake.readConfig(buf) }

// MetricAdd adds v to the counter name.
func MetricAdd(name string, v float64) int32 { return fake.metricAdd(name, v) }

// EventEmit records an event.
func EventEmit(typ string, data []byte) int32 { return fake.eventEmit(typ, data) }

// Caller copies the fake host's caller of the current call.
func Caller(buf []byte) int32 { return fake.readCaller(buf) }
