// Guest "selftestfail": neuron_self_test fails with "self-test: database unreachable"; GET /t/selftestfail/ok answers 200.
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o selftestfail.wasm .
package main

import (
	"errors"

	"github.com/empirefederation/neuron/sdk"
)

func init() {
	sdk.Register(sdk.Info{Name: "selftestfail", Version: "1.0.0"})
	sdk.Handle("GET /t/selftestfail/ok", "answers ok", func(*sdk.Request) sdk.Response { return sdk.Text(200, "ok") })
	sdk.SelfTest(func() error { return errors.New("self-test: database unreachable") })
}

func main() {}
