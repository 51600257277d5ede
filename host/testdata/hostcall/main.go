// Guest "hostcall": exports each neuron:host/v1 function unchanged as call_NAME, and a 128 KiB buffer, so that host tests call the host functions with any arguments.
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hostcall.wasm .
package main

import "unsafe"

func main() {}

//go:wasmimport neuron:host/v1 log
func hostLog(level int32, ptr, n uint32)

//go:wasmimport neuron:host/v1 config
func hostConfig(ptr, capacity uint32) int32

//go:wasmimport neuron:host/v1 metric_add
func hostMetricAdd(namePtr, nameLen uint32, value float64) int32

//go:wasmimport neuron:host/v1 event_emit
func hostEventEmit(typePtr, typeLen, dataPtr, dataLen uint32) int32

// buffer is where tests put arguments; a global never moves.
var buffer [128 << 10]byte

//go:wasmexport buffer
func bufferAddr() uint32 { return uint32(uintptr(unsafe.Pointer(&buffer[0]))) }

//go:wasmexport call_log
func callLog(level int32, ptr, n uint32) { hostLog(level, ptr, n) }

//go:wasmexport call_config
func callConfig(ptr, capacity uint32) int32 { return hostConfig(ptr, capacity) }

//go:wasmexport call_metric_add
func callMetricAdd(namePtr, nameLen uint32, value float64) int32 {
	return hostMetricAdd(namePtr, nameLen, value)
}

//go:wasmexport call_event_emit
func callEventEmit(typePtr, typeLen, dataPtr, dataLen uint32) int32 {
	return hostEventEmit(typePtr, typeLen, dataPtr, dataLen)
}
