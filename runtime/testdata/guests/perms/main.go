// Guest "perms": asks for the filesystem and environment permissions. GET /t/perms/env/{name} answers the
// variable's value ("<unset>" when absent); POST /t/perms/file writes the body to /data/note and answers what it reads back.
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o perms.wasm .
package main

import (
	"os"

	"github.com/empirefederation/neuron/sdk"
	"github.com/empirefederation/neuron/sdk/abi"
)

func init() {
	sdk.Register(sdk.Info{Name: "perms", Version: "1.0.0", Permissions: []string{abi.PermFilesystem, abi.PermEnvironment}})
	sdk.Handle("GET /t/perms/env/{name}", "reads an environment variable", func(r *sdk.Request) sdk.Response {
		v, ok := os.LookupEnv(r.Var("name"))
		if !ok {
			v = "<unset>"
		}
		return sdk.Text(200, v)
	})
	sdk.Handle("POST /t/perms/file", "writes and reads back /data/note", func(r *sdk.Request) sdk.Response {
		if err := os.WriteFile("/data/note", r.Body, 0o600); err != nil {
			return sdk.Error(500, err.Error())
		}
		b, err := os.ReadFile("/data/note")
		if err != nil {
			return sdk.Error(500, err.Error())
		}
		return sdk.Text(200, string(b))
	})
}

func main() {}
