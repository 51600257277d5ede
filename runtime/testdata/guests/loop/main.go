// Guest "loop": GET /t/loop/spin never returns (call timeout) and writes memory as it spins; GET /t/loop/ok shows the pool recovered.
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o loop.wasm .
package main

import "github.com/empirefederation/neuron/sdk"

func init() {
	sdk.Register(sdk.Info{Name: "loop", Version: "1.0.0"})
	sdk.Handle("GET /t/loop/spin", "never returns, writing its memory all the while", func(*sdk.Request) sdk.Response {
		for i := 0; ; i++ {
			scratch[i%len(scratch)]++
		}
	})
	sdk.Handle("GET /t/loop/ok", "answers ok", ok)
}

// scratch is what spin writes: a guest whose memory were unmapped under it
// would crash the host.
var scratch [64 << 10]byte

func ok(*sdk.Request) sdk.Response { return sdk.Text(200, "ok") }

func main() {}
