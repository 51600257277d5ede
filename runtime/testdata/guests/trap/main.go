// Guest "trap": GET /t/trap/panic panics: Go prints "panic: boom: deliberate panic" to stderr, then traps with "wasm error: unreachable" (no proc_exit); GET /t/trap/ok answers 200.
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o trap.wasm .
package main

import "github.com/empirefederation/neuron/sdk"

func init() {
	sdk.Register(sdk.Info{Name: "trap", Version: "1.0.0"})
	sdk.Handle("GET /t/trap/panic", "panics", func(*sdk.Request) sdk.Response { panic("boom: deliberate panic") })
	sdk.Handle("GET /t/trap/ok", "answers ok", func(*sdk.Request) sdk.Response { return sdk.Text(200, "ok") })
}

func main() {}
