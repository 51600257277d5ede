// Command data-processor 1.1.0 is the A/B counterpart of 1.0.0: it also
// treats records whose normalised email repeats as duplicates, and lists
// each invalid and duplicate record in its answer. Like 1.0.0 it only
// chooses the options of package process, which holds the logic.
//
// Build it from the repository root:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugins/data-processor-1.1.0.wasm ./examples/dataprocessor/v1.1.0
package main

import "github.com/empirefederation/neuron/examples/dataprocessor/process"

func init() {
	process.Register(process.Options{Version: "1.1.0", DedupEmail: true, Details: true})
}

// main is never called: the host calls _initialize, which runs init.
func main() {}
