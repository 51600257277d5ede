// Guest "hold": GET /t/hold/wait/{key} holds its call, sleeping 1 ms between reads of its configuration, until the config's "release" equals key; the test releases it with SetDynamic. GET /t/hold/ok answers at once.
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o hold.wasm .
package main

import (
	"time"

	"github.com/empirefederation/neuron/sdk"
	"github.com/empirefederation/neuron/sdk/abi"
)

func init() {
	// A held call outlives whatever a test does meanwhile, such as a sync
	// that compiles a new version from a cold cache under the race
	// detector; the tests release it, or it ends with the test.
	sdk.Register(sdk.Info{Name: "hold", Version: "1.0.0", Limits: abi.Limits{CallTimeout: abi.Duration(4 * time.Minute)}})
	sdk.Handle("GET /t/hold/wait/{key}", "holds until config release = key", wait)
	sdk.Handle("GET /t/hold/ok", "answers ok", func(*sdk.Request) sdk.Response { return sdk.Text(200, "ok") })
}

func wait(r *sdk.Request) sdk.Response {
	key := r.Var("key")
	for {
		var cfg struct {
			Release string `json:"release"`
		}
		if err := sdk.Config(&cfg); err != nil {
			return sdk.Text(500, err.Error())
		}
		if cfg.Release == key {
			return sdk.Text(200, "released "+key)
		}
		time.Sleep(time.Millisecond)
	}
}

func main() {}
