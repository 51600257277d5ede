// Guest "flaky": GET /t/flaky answers 500 on every Nth call of an instance when its config sets "failEvery": N (N > 0), else 200 "ok"; for experiment guardrails.
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o flaky.wasm .
package main

import "github.com/empirefederation/neuron/sdk"

var calls int

func init() {
	sdk.Register(sdk.Info{Name: "flaky", Version: "1.0.0"})
	sdk.Handle("GET /t/flaky", "fails every failEvery-th call", func(*sdk.Request) sdk.Response {
		var cfg struct {
			FailEvery int `json:"failEvery"`
		}
		_ = sdk.Config(&cfg)
		calls++
		if cfg.FailEvery > 0 && calls%cfg.FailEvery == 0 {
			return sdk.Text(500, "deliberate failure")
		}
		return sdk.Text(200, "ok")
	})
}

func main() {}
