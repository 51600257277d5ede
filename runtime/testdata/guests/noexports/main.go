// Guest "noexports": a reactor exporting only neuron_abi_version (no alloc, handle or manifest); the host must refuse it.
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o noexports.wasm .
package main

func main() {}

//go:wasmexport neuron_abi_version
func abiVersion() int32 { return 1 }
