// Guest "initfail": panics in init(), so _initialize traps (unreachable, panic text on stderr); the host must refuse it.
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o initfail.wasm .
package main

import "github.com/empirefederation/neuron/sdk"

func init() {
	sdk.Register(sdk.Info{Name: "initfail", Version: "1.0.0"})
	sdk.Handle("GET /t/initfail/ok", "never served", func(*sdk.Request) sdk.Response { return sdk.Text(200, "ok") })
	panic("initfail: deliberate panic in init")
}

func main() {}
