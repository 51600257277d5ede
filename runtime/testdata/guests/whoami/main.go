// Guest "whoami": GET /t/whoami answers who calls (sdk.Request.Caller) and needs the scope "read"; GET /t/whoami/public answers the same without a token.
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o whoami.wasm .
package main

import "github.com/empirefederation/neuron/sdk"

func init() {
	sdk.Register(sdk.Info{Name: "whoami", Version: "1.0.0"})
	sdk.HandleRoute("GET /t/whoami", sdk.Route{Description: "who calls", Scopes: []string{"read"}}, whoami)
	sdk.HandleRoute("GET /t/whoami/public", sdk.Route{Description: "who calls, if anyone", Public: true}, whoami)
}

func whoami(r *sdk.Request) sdk.Response {
	c, ok := r.Caller()
	return sdk.JSON(200, map[string]any{"verified": ok, "subject": c.Subject, "scopes": c.Scopes})
}

func main() {}
