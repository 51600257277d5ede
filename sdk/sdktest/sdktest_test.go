//go:build !wasip1

package sdktest_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/empirefederation/neuron/sdk"
	"github.com/empirefederation/neuron/sdk/sdktest"
)

func init() {
	sdk.Register(sdk.Info{Name: "t", Version: "0.1.0", Headers: []string{"X-Tenant"}})
	sdk.Handle("GET /echo/{id}", "", echo)
	sdk.Handle("POST /work", "", work)
}

func echo(r *sdk.Request) sdk.Response {
	return sdk.JSON(200, map[string]any{"path": r.Path, "route": r.Route, "vars": r.Vars,
		"query": r.RawQuery, "headers": r.Headers, "body": string(r.Body)})
}

func work(r *sdk.Request) sdk.Response {
	sdk.LogDebug("working", "n", 1)
	sdk.Count("jobs", 1)
	_ = sdk.Emit("job_done", map[string]int{"n": 1})
	return sdk.Text(202, "queued")
}

func TestCall(t *testing.T) {
	sdktest.Start(t)
	tests := []struct {
		name           string
		method, target string
		body           string
		header         []string
		wantStatus     int
		wantBody       string
	}{
		{"forwards declared headers only", "GET", "/echo/7?a=1&b=%20", "x",
			[]string{"content-type", "text/plain", "x-tenant", "acme", "Authorization", "secret"}, 200,
			`{"body":"x","headers":[{"Name":"Content-Type","Value":"text/plain"},{"Name":"X-Tenant","Value":"acme"}],` +
				`"path":"/echo/7","query":"a=1\u0026b=%20","route":"/echo/{id}","vars":[{"Name":"id","Value":"7"}]}`},
		{"not found", "GET", "/nope", "", nil, 404, `{"error":"no endpoint for GET /nope","code":"not_found"}`},
		{"wrong method", "POST", "/echo/7", "", nil, 405, `{"error":"no endpoint for POST /echo/7","code":"method_not_allowed"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := sdktest.Call(tc.method, tc.target, tc.body, tc.header...)
			if resp.Status != tc.wantStatus || string(resp.Body) != tc.wantBody {
				t.Errorf("got %d %s\nwant %d %s", resp.Status, resp.Body, tc.wantStatus, tc.wantBody)
			}
		})
	}
}

func TestCall_BodyIsCopied(t *testing.T) {
	a := sdktest.Call("GET", "/echo/a", "first")
	b := sdktest.Call("GET", "/echo/b", "second")
	if string(a.Body) == string(b.Body) {
		t.Error("responses share storage")
	}
}

func TestRecords(t *testing.T) {
	sdktest.Start(t)
	sdktest.Call("POST", "/work", "")
	sdktest.Call("POST", "/work", "")
	logs := sdktest.Logs()
	if len(logs) != 2 || logs[0].Level != sdk.LevelDebug || logs[0].Msg != "working" || logs[0].Attrs["n"] != 1.0 {
		t.Errorf("logs %+v", logs)
	}
	if m := sdktest.Metrics(); m["jobs"] != 2 {
		t.Errorf("metrics %v", m)
	}
	if ev := sdktest.Events(); len(ev) != 2 || ev[1].Type != "job_done" || string(ev[1].Data) != `{"n":1}` {
		t.Errorf("events %v", ev)
	}
	sdktest.Reset()
	if len(sdktest.Logs())+len(sdktest.Metrics())+len(sdktest.Events()) != 0 {
		t.Error("Reset kept records")
	}
}

func TestManifest(t *testing.T) {
	m, err := sdktest.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(m)
	want := `{"name":"t","version":"0.1.0","endpoints":[{"method":"GET","path":"/echo/{id}","export":"neuron_handle"},` +
		`{"method":"POST","path":"/work","export":"neuron_handle"}],"headers":["X-Tenant"]}`
	if string(got) != want {
		t.Errorf("manifest\n got %s\nwant %s", got, want)
	}
}

func TestCall_Panics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Error("odd header list accepted")
		}
	}()
	//lint:ignore SA5012 an odd header list is what this test is about
	sdktest.Call("GET", "/echo/1", "", "X-Tenant")
}

func ExampleCall() {
	resp := sdktest.Call("GET", "/echo/42?verbose=1", "")
	var out struct {
		Route string
		Vars  []struct{ Name, Value string }
	}
	_ = json.Unmarshal(resp.Body, &out)
	fmt.Println(resp.Status, out.Route, out.Vars)
	// Output: 200 /echo/{id} [{id 42}]
}
