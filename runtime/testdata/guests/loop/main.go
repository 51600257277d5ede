// Guest "loop": GET /t/loop/spin never returns (call timeout); GET /t/loop/ok shows the pool recovered.
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o loop.wasm .
package main

import "github.com/empirefederation/neuron/sdk"

func init() {
	sdk.Register(sdk.Info{Name: "loop", Version: "1.0.0"})
	sdk.Handle("GET /t/loop/spin", "never returns", func(*sdk.Request) sdk.Response {
		for {
		}
	})
	sdk.Handle("GET /t/loop/ok", "answers ok", ok)
}

func ok(*sdk.Request) sdk.Response { return sdk.Text(200, "ok") }

func main() {}
