//go:build wasip1

package hostcall

import "unsafe"

// The imports take unsafe.Pointer rather than uint32 so that the GC keeps the
// argument alive for the duration of the call.

//go:wasmimport neuron:host/v1 log
func hostLog(level int32, ptr unsafe.Pointer, n uint32)

//go:wasmimport neuron:host/v1 config
func hostConfig(ptr unsafe.Pointer, capacity uint32) int32

//go:wasmimport neuron:host/v1 metric_add
func hostMetricAdd(namePtr unsafe.Pointer, nameLen uint32, value float64) int32

//go:wasmimport neuron:host/v1 caller
func hostCaller(ptr unsafe.Pointer, capacity uint32) int32

//go:wasmimport neuron:host/v1 event_emit
func hostEventEmit(typePtr unsafe.Pointer, typeLen uint32, dataPtr unsafe.Pointer, dataLen uint32) int32

// Log calls the host's log function.
func Log(level int32, msg []byte) {
	hostLog(level, unsafe.Pointer(unsafe.SliceData(msg)), uint32(len(msg)))
}

// Config calls the host's config function with buf[:cap(buf)].
func Config(buf []byte) int32 {
	return hostConfig(unsafe.Pointer(unsafe.SliceData(buf)), uint32(cap(buf)))
}

// Caller calls the host's caller function with buf[:cap(buf)]. A
// processor that never asks who calls does not import it.
func Caller(buf []byte) int32 {
	return hostCaller(unsafe.Pointer(unsafe.SliceData(buf)), uint32(cap(buf)))
}

// MetricAdd calls the host's metric_add function.
func MetricAdd(name string, v float64) int32 {
	return hostMetricAdd(unsafe.Pointer(unsafe.StringData(name)), uint32(len(name)), v)
}

// EventEmit calls the host's event_emit function.
func EventEmit(typ string, data []byte) int32 {
	return hostEventEmit(unsafe.Pointer(unsafe.StringData(typ)), uint32(len(typ)),
		unsafe.Pointer(unsafe.SliceData(data)), uint32(len(data)))
}
