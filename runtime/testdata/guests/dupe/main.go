// Guest "dupe": processor "dupe" declares GET /t/echo/{id}, which echo also serves; the later one loaded must be refused.
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o dupe.wasm .
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
	return str(`{"name":"dupe","version":"1.0.0","endpoints":[{"method":"GET","path":"/t/dupe/ok"},{"method":"GET","path":"/t/echo/{id}"}]}`)
}

//go:wasmexport neuron_handle
func handle(ptr, n uint32) uint64 { // every endpoint answers 200 "ok"
	respBuf = abi.AppendResponse(respBuf[:0], &abi.Response{Status: 200, Body: []byte("ok")})
	return abi.Pack(addr(respBuf), uint32(len(respBuf)))
}
