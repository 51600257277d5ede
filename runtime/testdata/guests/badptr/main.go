// Guest "badptr": responses the host must reject as 502, not trap: out-of-range pointer, huge length, malformed bytes.
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o badptr.wasm .
package main

import (
	"unsafe"

	"github.com/empirefederation/neuron/sdk/abi"
)

func main() {}

var reqBuf, respBuf []byte

func addr(b []byte) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

func str(s string) uint64 { // packed pointer of a literal, which the GC never frees
	return abi.Pack(uint32(uintptr(unsafe.Pointer(unsafe.StringData(s)))), uint32(len(s)))
}

//go:wasmexport neuron_abi_version
func abiVersion() int32 { return abi.Version }

//go:wasmexport neuron_alloc
func alloc(size uint32) uint32 {
	if uint32(cap(reqBuf)) < size || cap(reqBuf) == 0 {
		reqBuf = make([]byte, max(size, 1))
	}
	reqBuf = reqBuf[:size]
	return addr(reqBuf)
}

//go:wasmexport neuron_manifest
func manifest() uint64 {
	return str(`{"name":"badptr","version":"1.0.0","endpoints":[{"method":"GET","path":"/t/badptr/ptr"},{"method":"GET","path":"/t/badptr/len"},{"method":"GET","path":"/t/badptr/garbage"},{"method":"GET","path":"/t/badptr/ok"}]}`)
}

//go:wasmexport neuron_handle
func handle(ptr, n uint32) uint64 {
	req, _ := abi.DecodeRequest(reqBuf[:min(n, uint32(len(reqBuf)))])
	switch req.Route {
	case "/t/badptr/ptr":
		return abi.Pack(0xFFFF0000, 4096) // past the end of memory
	case "/t/badptr/len":
		return abi.Pack(16, 0x7FFFFFFF) // valid start, length far past the end
	case "/t/badptr/garbage":
		return abi.Pack(addr(garbage[:]), uint32(len(garbage))) // status 0xFFFFFFFF, header count 0xFFFFFFFF
	}
	respBuf = abi.AppendResponse(respBuf[:0], &abi.Response{Status: 200, Body: []byte("ok")})
	return abi.Pack(addr(respBuf), uint32(len(respBuf)))
}

var garbage = func() (g [32]byte) {
	for i := range g {
		g[i] = 0xFF
	}
	return g
}()
