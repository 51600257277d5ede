// Package sdk is the Go SDK for neuron processors: WebAssembly modules that
// serve HTTP endpoints inside a neuron. A processor is a plain Go main
// package that registers itself and its handlers in init:
//
//	package main
//
//	import "github.com/empirefederation/neuron/sdk"
//
//	func init() {
//		sdk.Register(sdk.Info{Name: "hello", Version: "1.0.0"})
//		sdk.Handle("GET /hello/{name}", "Greets someone", hello)
//	}
//
//	func hello(r *sdk.Request) sdk.Response {
//		return sdk.JSON(200, map[string]string{"hello": r.Var("name")})
//	}
//
//	func main() {}
//
// and is built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugins/hello.wasm .
//
// The SDK provides every export of ABI v1 (see package abi and docs/abi.md):
// the manifest is generated from Register and Handle, and every endpoint is
// served by the one export neuron_handle, which dispatches on the route.
// It is its own module and imports only the standard library, sdk/abi and
// its internal hostcall, never the host (host, runtime, wazero): every
// processor links it into its module, and what it links every instance
// carries.
//
// # Notes
//
//   - The host calls _initialize once per instance, which runs the package
//     init functions; main is never called. Register and Handle belong in
//     init.
//   - An instance serves one call at a time, so handlers need no locks.
//     Package-level state is per instance, and the host runs a pool of
//     instances of each version. The pool hands out the instance used most
//     recently, so sequential calls to a quiet processor usually meet the
//     same instance and its state; calls that overlap meet different
//     instances. State is lost when an instance traps, times out, breaks
//     the ABI or its memory limit (it is discarded), when the operator
//     restarts workers, when the pool shrinks after a minute idle, and at a
//     new version, a reload or a neuron restart. Keep there only what may
//     be lost and rebuilt (caches), and bound it; see README.md, "What
//     state survives".
//   - A panic in a handler is not recovered: it traps the instance, the host
//     answers 500 and discards the instance. Return Error for expected
//     failures.
//   - Outside wasip1 the host functions are replaced by a fake host, so
//     processors compile, vet and unit-test with plain go test. Package
//     sdktest drives a processor and inspects what it logged, counted and
//     emitted.
package sdk
