// Command hello is the smallest neuron processor: GET /hello/{name} answers
// a JSON greeting. It imports the SDK and nothing else, as the template
// every processor starts from.
//
// Build it as a WASI reactor from the repository root:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugins/hello.wasm ./examples/hello
package main

import "github.com/empirefederation/neuron/sdk"

func init() {
	sdk.Register(sdk.Info{
		Name:         "hello",
		Version:      "1.0.0",
		Description:  "Greets whoever asks",
		Capabilities: []string{"greeting"},
	})
	sdk.Handle("GET /hello/{name}", "Greets someone", hello)
}

// greeting is the response body of GET /hello/{name}.
type greeting struct {
	Message string `json:"message"`
	Name    string `json:"name"`
}

func hello(r *sdk.Request) sdk.Response {
	name := r.Var("name")
	return sdk.JSON(200, greeting{Message: "Hello, " + name + "!", Name: name})
}

// main is never called: the host calls _initialize, which runs init.
func main() {}
