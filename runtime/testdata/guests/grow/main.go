// Guest "grow": GET /t/grow/hog allocates until the memory limit stops it ("fatal error: out of memory", then a trap); GET /t/grow/ok answers 200.
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o grow.wasm .
package main

import "github.com/empirefederation/neuron/sdk"

func init() {
	sdk.Register(sdk.Info{Name: "grow", Version: "1.0.0"})
	sdk.Handle("GET /t/grow/hog", "allocates without end", func(*sdk.Request) sdk.Response {
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1 // touch every page
			}
			hog = append(hog, b)
		}
	})
	sdk.Handle("GET /t/grow/ok", "answers ok", func(*sdk.Request) sdk.Response { return sdk.Text(200, "ok") })
}

var hog [][]byte // kept reachable so nothing is freed

func main() {}
