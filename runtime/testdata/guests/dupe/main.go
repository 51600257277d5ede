// Guest "dupe": processor "dupe" declares GET /t/echo/{id}, which echo also serves; the later one loaded must be refused.
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o dupe.wasm .
package main

import "github.com/empirefederation/neuron/sdk"

func init() {
	sdk.Register(sdk.Info{Name: "dupe", Version: "1.0.0"})
	sdk.Handle("GET /t/dupe/ok", "answers ok", ok)
	sdk.Handle("GET /t/echo/{id}", "collides with echo", ok)
}

func ok(*sdk.Request) sdk.Response { return sdk.Text(200, "ok") }

func main() {}
