package sdk

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/sdk/abi"
)

func ok(*Request) Response { return Text(200, "ok") }

func TestRegistry_Manifest(t *testing.T) {
	var g registry
	g.register(Info{Name: "p", Version: "1.2.3", Description: "d", Capabilities: []string{"c"},
		Headers: []string{"X-Key"}, Limits: abi.Limits{PoolMax: 2}, Settings: map[string]any{"greeting": "hi", "max": 3, "on": true}})
	g.handle("GET /a/{id}", Route{Description: "get a"}, ok)
	g.handle("POST /a", Route{Description: ""}, ok)
	var m abi.Manifest
	if err := json.Unmarshal(g.manifestJSON(), &m); err != nil {
		t.Fatal(err)
	}
	want := abi.Manifest{Name: "p", Version: "1.2.3", Description: "d", Capabilities: []string{"c"},
		Headers: []string{"X-Key"}, Limits: abi.Limits{PoolMax: 2}, Settings: map[string]any{"greeting": "hi", "max": 3.0, "on": true}, Endpoints: []abi.Endpoint{
			{Method: "GET", Path: "/a/{id}", Export: "neuron_handle", Description: "get a"},
			{Method: "POST", Path: "/a", Export: "neuron_handle"},
		}}
	got, _ := json.Marshal(m)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Errorf("manifest\n got %s\nwant %s", got, wantJSON)
	}
	g.handle("GET /b", Route{Description: ""}, ok) // a change invalidates the cached encoding
	if !strings.Contains(string(g.manifestJSON()), `"/b"`) {
		t.Errorf("manifest not updated: %s", g.manifestJSON())
	}
}

func TestRegistry_Errors(t *testing.T) {
	tests := []struct {
		name        string
		do          func(g *registry)
		expectedErr string
	}{
		{"register twice", func(g *registry) {
			g.register(Info{Name: "a", Version: "1"})
			g.register(Info{Name: "a", Version: "1"})
		}, "Register called twice"},
		{"no name", func(g *registry) { g.register(Info{Version: "1"}) }, "needs a Name"},
		{"no version", func(g *registry) { g.register(Info{Name: "a"}) }, "needs a Name and a Version"},
		{"settings not JSON", func(g *registry) {
			g.register(Info{Name: "a", Version: "1", Settings: map[string]any{"ratio": math.NaN()}})
		}, "Settings must encode as JSON"},
		{"no method", func(g *registry) { g.handle("/a", Route{Description: ""}, ok) }, `is not "METHOD /path"`},
		{"lower-case method", func(g *registry) { g.handle("get /a", Route{Description: ""}, ok) }, `is not "METHOD /path"`},
		{"relative path", func(g *registry) { g.handle("GET a", Route{Description: ""}, ok) }, `is not "METHOD /path"`},
		{"two spaces", func(g *registry) { g.handle("GET  /a", Route{Description: ""}, ok) }, `is not "METHOD /path"`},
		{"nil handler", func(g *registry) { g.handle("GET /a", Route{Description: ""}, nil) }, "nil handler"},
		{"duplicate", func(g *registry) {
			g.handle("GET /a", Route{Description: ""}, ok)
			g.handle("GET /a", Route{Description: ""}, ok)
		}, "declared twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if msg, _ := r.(string); !strings.Contains(msg, tc.expectedErr) {
					t.Errorf("panic %v, want one containing %q", r, tc.expectedErr)
				}
			}()
			tc.do(&registry{})
		})
	}
}

func TestRegistry_Serve(t *testing.T) {
	var g registry
	g.register(Info{Name: "p", Version: "1"})
	g.handle("GET /items/{id}", Route{Description: ""}, func(r *Request) Response {
		return Text(201, r.Method+" "+r.Path+" "+r.Route+" "+r.Var("id")+" "+r.Query("q")+" "+
			r.Header("content-type")+" "+string(r.Body))
	})
	g.handle("POST /items/{id}", Route{Description: ""}, func(*Request) Response { return Response{} })
	tests := []struct {
		name       string
		req        []byte
		wantStatus int
		wantBody   string
	}{
		{"dispatch", enc(abi.Request{Method: "GET", Path: "/items/7", Route: "/items/{id}",
			Vars: []abi.Pair{{Name: "id", Value: "7"}}, RawQuery: "q=a%20b",
			Header: []abi.Pair{{Name: "Content-Type", Value: "text/plain"}}, Body: []byte("hi")}),
			201, "GET /items/7 /items/{id} 7 a b text/plain hi"},
		{"zero status is 200", enc(abi.Request{Method: "POST", Path: "/items/7", Route: "/items/{id}"}), 200, ""},
		{"unknown route", enc(abi.Request{Method: "GET", Path: "/x", Route: "/x"}), 404,
			`{"error":"no handler for GET /x","code":"not_found"}`},
		{"method is part of the key", enc(abi.Request{Method: "PUT", Route: "/items/{id}"}), 404,
			`{"error":"no handler for PUT /items/{id}","code":"not_found"}`},
		{"malformed", []byte{1, 2, 3}, 400, `{"error":"sdk: the host sent a malformed request: abi: malformed request: field method at offset 0: needs 4 bytes (a u32), 3 left: the message is cut short","code":"bad_request"}`},
		{"nil", nil, 400, `{"error":"sdk: the host sent a malformed request: abi: malformed request: field method at offset 0: needs 4 bytes (a u32), 0 left: the message is cut short","code":"bad_request"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := abi.DecodeResponse(g.serve(tc.req))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tc.wantStatus || string(resp.Body) != tc.wantBody {
				t.Errorf("got %d %q, want %d %q", resp.Status, resp.Body, tc.wantStatus, tc.wantBody)
			}
			if req.Body != nil || req.Vars != nil {
				t.Error("the Request still refers to the last call's data")
			}
		})
	}
}

func enc(r abi.Request) []byte { return abi.AppendRequest(nil, &r) }

func TestRegistry_SelfTest(t *testing.T) {
	tests := []struct {
		name string
		f    func() error
		want string
	}{
		{"none", nil, ""},
		{"pass", func() error { return nil }, ""},
		{"fail", func() error { return errString("broken") }, "broken"},
		{"fail without message", func() error { return errString("") }, "self test failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := registry{selfTest: tc.f}
			if got := string(g.runSelfTest()); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestAlloc(t *testing.T) {
	reqBuf = nil
	t.Cleanup(func() { reqBuf = nil })
	tests := []struct {
		size    uint32
		wantCap int
	}{
		{0, minAlloc}, // an address even for nothing
		{10, minAlloc},
		{minAlloc, minAlloc},
		{minAlloc + 1, 2 * minAlloc},
		{5 * minAlloc, 5 * minAlloc},
		{100, 5 * minAlloc}, // never shrinks
	}
	for _, tc := range tests {
		b := alloc(tc.size)
		if len(b) != int(tc.size) || cap(b) != tc.wantCap {
			t.Errorf("alloc(%d): len %d cap %d, want len %d cap %d", tc.size, len(b), cap(b), tc.size, tc.wantCap)
		}
	}
	first := &alloc(1)[0]
	if &alloc(2)[0] != first {
		t.Error("alloc did not reuse its buffer")
	}
}

func BenchmarkServe(b *testing.B) {
	var g registry
	g.register(Info{Name: "p", Version: "1"})
	g.handle("GET /hello/{name}", Route{Description: ""}, func(r *Request) Response {
		return Text(200, r.Var("name"))
	})
	msg := enc(abi.Request{Method: "GET", Path: "/hello/ada", Route: "/hello/{name}",
		Vars: []abi.Pair{{Name: "name", Value: "ada"}}, Header: []abi.Pair{{Name: "Accept", Value: "*/*"}}})
	b.ReportAllocs()
	for b.Loop() {
		g.serve(msg)
	}
}
