//go:build wasip1

package sdk

import (
	"unsafe"

	"github.com/empirefederation/neuron/sdk/abi"
)

// The exports of ABI v1. Each adapts the Wasm calling convention to a plain
// function that the host-side tests cover. Results are packed pointer and
// length pairs; see docs/design.md, "Why is the ABI a packed uint64?".

//go:wasmexport neuron_abi_version
func neuronABIVersion() int32 { return abi.Version }

//go:wasmexport neuron_alloc
func neuronAlloc(size uint32) uint32 { return addr(alloc(size)) }

//go:wasmexport neuron_manifest
func neuronManifest() uint64 { return pack(reg.manifestJSON()) }

//go:wasmexport neuron_handle
func neuronHandle(ptr, size uint32) uint64 { return pack(handle(request(ptr, size))) }

// selfMsg is the last self-test error message, kept for the host to read.
var selfMsg []byte

//go:wasmexport neuron_self_test
func neuronSelfTest() uint64 {
	if selfMsg = reg.runSelfTest(); selfMsg == nil {
		return 0
	}
	return pack(selfMsg)
}

// request returns the request the host wrote at ptr. It must lie in the
// buffer neuron_alloc returned; anything else decodes as malformed rather
// than letting the host point the SDK at arbitrary memory.
func request(ptr, size uint32) []byte {
	if ptr != addr(reqBuf) || uint64(size) > uint64(cap(reqBuf)) {
		return nil
	}
	return reqBuf[:size]
}

// addr is the guest address of b's first byte. The GC does not move objects,
// and the callers keep b reachable from a package variable.
func addr(b []byte) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

func pack(b []byte) uint64 { return abi.Pack(addr(b), uint32(len(b))) }
