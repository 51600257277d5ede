// Command data-processor 1.0.0 is the reference guide's Customer Data
// Processor as a neuron processor: POST /process validates a batch of
// customer records and drops records whose id repeats; GET /status reports
// what this instance has processed. Version 1.1.0 is its A/B counterpart.
// It holds no logic: package process has it, and this version only
// chooses its options, so that the two versions cannot drift apart.
//
// Build it from the repository root:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugins/data-processor-1.0.0.wasm ./examples/dataprocessor/v1.0.0
package main

import "github.com/empirefederation/neuron/examples/dataprocessor/process"

func init() {
	process.Register(process.Options{Version: "1.0.0"})
}

// main is never called: the host calls _initialize, which runs init.
func main() {}
