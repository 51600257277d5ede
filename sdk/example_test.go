//go:build !wasip1

package sdk_test

import (
	"encoding/json"
	"fmt"

	"github.com/empirefederation/neuron/sdk"
	"github.com/empirefederation/neuron/sdk/abi"
	"github.com/empirefederation/neuron/sdk/sdktest"
)

// A processor registers itself and its endpoints in init.
func init() {
	sdk.Register(sdk.Info{Name: "example", Version: "1.0.0", Description: "SDK examples",
		Settings: map[string]any{"greetingWord": "hello", "maxItems": 10}})
	sdk.Handle("GET /hello/{name}", "Greets someone", hello)
	sdk.Handle("POST /sum", "Adds numbers", sum)
	sdk.Handle("GET /greeting", "Greets with the configured word", greeting)
	sdk.Handle("POST /orders", "Takes an order", order)
	sdk.HandleRoute("GET /me", sdk.Route{Description: "Says who calls", Scopes: []string{"profile"}}, me)
}

func me(r *sdk.Request) sdk.Response {
	c, ok := r.Caller()
	if !ok {
		return sdk.Error(401, "no verified caller")
	}
	return sdk.JSON(200, map[string]any{"subject": c.Subject, "canWrite": c.HasScope("orders:write")})
}

func hello(r *sdk.Request) sdk.Response {
	return sdk.JSON(200, map[string]string{"hello": r.Var("name"), "lang": r.Query("lang")})
}

func sum(r *sdk.Request) sdk.Response {
	var in struct{ Numbers []float64 }
	if err := r.DecodeJSON(&in); err != nil {
		return sdk.Error(400, err.Error())
	}
	total := 0.0
	for _, n := range in.Numbers {
		total += n
	}
	return sdk.JSON(200, map[string]float64{"sum": total})
}

func greeting(*sdk.Request) sdk.Response {
	var cfg struct {
		Word string `json:"greetingWord"` // declared with its default in Register
	}
	if err := sdk.Config(&cfg); err != nil {
		return sdk.Error(500, err.Error())
	}
	return sdk.Text(200, cfg.Word)
}

func order(r *sdk.Request) sdk.Response {
	var o struct {
		ID    string  `json:"id"`
		Total float64 `json:"total"`
	}
	if err := r.DecodeJSON(&o); err != nil {
		return sdk.Error(400, err.Error())
	}
	sdk.LogInfo("order taken", "id", o.ID, "total", o.Total)
	sdk.Count("ordersTaken", 1)
	if err := sdk.Emit("order_taken", map[string]any{"id": o.ID}); err != nil {
		sdk.LogWarn("emit failed", "error", err)
	}
	return sdk.JSON(201, map[string]string{"id": o.ID}).WithHeader("Location", "/orders/"+o.ID)
}

func Example() {
	resp := sdktest.Call("GET", "/hello/ada?lang=en", "")
	fmt.Println(resp.Status, string(resp.Body))
	// Output: 200 {"hello":"ada","lang":"en"}
}

func ExampleHandle() {
	// The host matches routes; a path no route declares never reaches the
	// processor.
	for _, target := range []string{"/hello/ada", "/hello/ada/lovelace"} {
		resp := sdktest.Call("GET", target, "")
		fmt.Println(target, resp.Status)
	}
	// Output:
	// /hello/ada 200
	// /hello/ada/lovelace 404
}

func ExampleRequest_DecodeJSON() {
	for _, body := range []string{`{"numbers": [1, 2, 3.5]}`, `{"numbers": [1,`, ``} {
		resp := sdktest.Call("POST", "/sum", body)
		fmt.Println(resp.Status, string(resp.Body))
	}
	// Output:
	// 200 {"sum":6.5}
	// 400 {"error":"request body: unexpected end of JSON input","code":"bad_request"}
	// 400 {"error":"request body is empty","code":"bad_request"}
}

func ExampleConfig() {
	sdktest.Reset()
	fmt.Println(string(sdktest.Call("GET", "/greeting", "").Body))
	sdktest.SetConfig(`{"greetingWord": "bonjour"}`)
	fmt.Println(string(sdktest.Call("GET", "/greeting", "").Body))
	// Output:
	// hello
	// bonjour
}

// A processor declares the settings it reads, with their defaults, in
// Info.Settings; the manifest carries them, and the host lets the
// federation set each one (plugins.example.greetingWord) to a value of the
// default's type. sdk.Config sees the defaults under what is set.
func ExampleInfo() {
	m, err := sdktest.Manifest()
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := json.Marshal(m.Settings)
	fmt.Println(string(b))
	// Output: {"greetingWord":"hello","maxItems":10}
}

func ExampleError() {
	resp := sdk.Error(404, "no such order")
	fmt.Println(resp.Status, string(resp.Body))
	// Output: 404 {"error":"no such order","code":"not_found"}
}

func ExampleJSON() {
	resp := sdk.JSON(200, map[string]int{"count": 3})
	fmt.Println(resp.Status, resp.Header, string(resp.Body))
	// Output: 200 [{Content-Type application/json}] {"count":3}
}

func ExampleResponse_WithHeader() {
	resp := sdk.Text(200, "ok").WithHeader("Cache-Control", "no-store")
	fmt.Println(resp.Header)
	// Output: [{Content-Type text/plain; charset=utf-8} {Cache-Control no-store}]
}

func ExampleLog() {
	sdktest.Reset()
	sdk.Log(sdk.LevelWarn, "disk almost full", "percent", 93, "volume", "/data")
	for _, l := range sdktest.Logs() {
		fmt.Println(l.Level, l.Msg, l.Attrs)
	}
	// Output: 4 disk almost full map[percent:93 volume:/data]
}

// A handler logs, counts and emits; sdktest records all three.
func ExampleEmit() {
	sdktest.Reset()
	resp := sdktest.Call("POST", "/orders", `{"id": "o-1", "total": 9.5}`)
	fmt.Println(resp.Status, resp.Header[1])
	fmt.Println(sdktest.Logs()[0].Msg, sdktest.Logs()[0].Attrs)
	fmt.Println(sdktest.Metrics())
	fmt.Println(sdktest.Events()[0].Type, string(sdktest.Events()[0].Data))
	// Output:
	// 201 {Location /orders/o-1}
	// order taken map[id:o-1 total:9.5]
	// map[ordersTaken:1]
	// order_taken {"id":"o-1"}
}

func ExampleCount() {
	sdktest.Reset()
	sdk.Count("cacheHits", 2)
	sdk.Count("cacheHits", 1)
	fmt.Println(sdktest.Metrics()["cacheHits"])
	// Output: 3
}

func ExampleSelfTest() {
	sdk.SelfTest(func() error {
		// A self test runs inside the instance: it calls handlers directly.
		r := &sdk.Request{Method: "GET", Path: "/hello/self", Vars: []abi.Pair{{Name: "name", Value: "self"}}}
		if resp := hello(r); resp.Status != 200 {
			return fmt.Errorf("hello answered %d", resp.Status)
		}
		return nil
	})
	defer sdk.SelfTest(nil)
	fmt.Println(sdktest.SelfTest())
	// Output: <nil>
}

// An endpoint may require scopes of its caller's token (HandleRoute; the
// neuron refuses a call without them before the handler runs), and the
// handler reads who calls. sdktest.SetCaller plays the neuron's verified
// caller.
func ExampleRequest_Caller() {
	sdktest.SetCaller("billing", "profile", "orders:write")
	defer sdktest.SetCaller("")
	r := sdktest.Call("GET", "/me", "")
	fmt.Println(r.Status, string(r.Body))
	// Output: 200 {"canWrite":true,"subject":"billing"}
}
