// Guest "grow": GET /t/grow/hog allocates past the memory limit: Go prints "fatal error: out of memory" to stderr, then traps (unreachable); GET /t/grow/ok answers 200.
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o grow.wasm .
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
	return str(`{"name":"grow","version":"1.0.0","endpoints":[{"method":"GET","path":"/t/grow/hog"},{"method":"GET","path":"/t/grow/ok"}]}`)
}

//go:wasmexport neuron_handle
func handle(ptr, n uint32) uint64 {
	req, _ := abi.DecodeRequest(reqBuf[:min(n, uint32(len(reqBuf)))])
	if req.Route == "/t/grow/hog" {
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1 // touch every page
			}
			hog = append(hog, b)
		}
	}
	respBuf = abi.AppendResponse(respBuf[:0], &abi.Response{Status: 200, Body: []byte("ok")})
	return abi.Pack(addr(respBuf), uint32(len(respBuf)))
}

var hog [][]byte // kept reachable so nothing is freed
