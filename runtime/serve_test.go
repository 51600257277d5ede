package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/runtime"
)

// echoed is what the echo guest answers on /t/echo/{id}: the request as the
// guest saw it.
type echoed struct {
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Route    string            `json:"route"`
	Vars     map[string]string `json:"vars"`
	RawQuery string            `json:"rawQuery"`
	Headers  map[string]string `json:"headers"`
	BodyLen  int               `json:"bodyLen"`
}

func decodeEcho(t testing.TB, r reply) echoed {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %.300s; want 200", r.status, r.body)
	}
	var got echoed
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("echo body %.300q: %v", r.body, err)
	}
	return got
}

// opaque hides a reader's length so that the client sends it chunked.
type opaque struct{ io.Reader }

func TestEcho_Endpoints(t *testing.T) {
	e := startEnv(t, runtime.Options{}, guests(t, "echo", "nomanifest")) // nomanifest: a static GET path
	tests := []struct {
		name   string
		method string
		target string
		body   io.Reader
		header []string
		want   echoed
	}{
		{
			name: "get with query and forwarded headers", method: "GET", target: "/t/echo/42?a=1&b=x%20y&a=2",
			header: []string{"Content-Type", "text/plain", "Accept", "application/json", "X-Echo", "hi", "X-Other", "secret"},
			want: echoed{Method: "GET", Path: "/t/echo/42", Route: "/t/echo/{id}", Vars: map[string]string{"id": "42"},
				RawQuery: "a=1&b=x%20y&a=2", Headers: map[string]string{"Content-Type": "text/plain", "Accept": "application/json", "X-Echo": "hi"}},
		},
		{
			name: "header names are matched case-insensitively", method: "GET", target: "/t/echo/abc",
			header: []string{"x-echo", "lower"},
			want: echoed{Method: "GET", Path: "/t/echo/abc", Route: "/t/echo/{id}", Vars: map[string]string{"id": "abc"},
				Headers: map[string]string{"X-Echo": "lower"}},
		},
		{
			name: "post with a body", method: "POST", target: "/t/echo/7", body: bytes.NewReader(make([]byte, 1234)),
			header: []string{"Content-Type", "application/octet-stream"},
			want: echoed{Method: "POST", Path: "/t/echo/7", Route: "/t/echo/{id}", Vars: map[string]string{"id": "7"},
				Headers: map[string]string{"Content-Type": "application/octet-stream"}, BodyLen: 1234},
		},
		{
			name: "post with a chunked body", method: "POST", target: "/t/echo/8",
			body: opaque{bytes.NewReader(make([]byte, 100_000))},
			want: echoed{Method: "POST", Path: "/t/echo/8", Route: "/t/echo/{id}", Vars: map[string]string{"id": "8"},
				Headers: map[string]string{}, BodyLen: 100_000},
		},
		{
			name: "get of a path the POST-only /t/echo/host shadows", method: "GET", target: "/t/echo/host",
			want: echoed{Method: "GET", Path: "/t/echo/host", Route: "/t/echo/{id}", Vars: map[string]string{"id": "host"},
				Headers: map[string]string{}},
		},
	}
	for _, tc := range tests {
		e.run(t, tc.name, func(t *testing.T, e *env) {
			r := e.do(tc.method, tc.target, tc.body, tc.header...)
			if got := r.header.Get(runtime.HeaderPlugin); got != "echo@1.0.0" {
				t.Errorf("%s = %q, want echo@1.0.0", runtime.HeaderPlugin, got)
			}
			if got := r.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want the guest's application/json", got)
			}
			if got := decodeEcho(t, r); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("guest saw\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}

	e.run(t, "size", func(t *testing.T, e *env) {
		r := e.get("/t/echo/size/70000")
		if r.status != http.StatusOK || len(r.body) != 70000 || strings.Trim(string(r.body), "x") != "" {
			t.Fatalf("status %d, %d bytes; want 200 and 70000 x's", r.status, len(r.body))
		}
		if got := r.header.Get("Content-Type"); got != "text/plain" {
			t.Errorf("Content-Type = %q, want text/plain", got)
		}
		if got := r.header.Get(runtime.HeaderPlugin); got != "echo@1.0.0" {
			t.Errorf("%s = %q, want echo@1.0.0", runtime.HeaderPlugin, got)
		}
	})
	e.run(t, "guest error status", func(t *testing.T, e *env) {
		r := e.get("/t/echo/size/nope")
		if r.status != http.StatusBadRequest || string(r.body) != "bad size" {
			t.Fatalf("status %d body %q; want the guest's 400 \"bad size\"", r.status, r.body)
		}
		if got := r.header.Get(runtime.HeaderPlugin); got != "echo@1.0.0" {
			t.Errorf("%s = %q on the guest's error, want echo@1.0.0", runtime.HeaderPlugin, got)
		}
	})

	// A GET route answers HEAD with the GET's status and headers and no
	// body, on a path with variables (the router) and a static one.
	for _, target := range []string{"/t/echo/size/70000", "/t/nomanifest/ok"} {
		e.run(t, "HEAD "+target, func(t *testing.T, e *env) {
			get, head := e.get(target), e.do(http.MethodHead, target, nil)
			if head.status != http.StatusOK || get.status != http.StatusOK || len(head.body) != 0 {
				t.Fatalf("HEAD: status %d, %d body bytes; GET: %d; want 200 and no body", head.status, len(head.body), get.status)
			}
			for _, h := range []string{"Content-Type", "Content-Length", runtime.HeaderPlugin} {
				if g, hd := get.header.Values(h), head.header.Values(h); !slices.Equal(g, hd) {
					t.Errorf("%s: GET has %q, HEAD %q", h, g, hd)
				}
			}
		})
	}
	// A 405 says which methods the path serves (RFC 9110, 15.5.6).
	for _, tc := range []struct{ method, target, allow string }{
		{"PUT", "/t/echo/1", "GET, HEAD, POST"},
		{"DELETE", "/t/nomanifest/ok", "GET, HEAD"},
		{"DELETE", "/t/echo/host", "GET, HEAD, POST"},
		{"POST", "/t/echo/size/3", "GET, HEAD"},
	} {
		e.run(t, "405 "+tc.method+" "+tc.target, func(t *testing.T, e *env) {
			r := e.do(tc.method, tc.target, nil)
			if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != tc.allow {
				t.Errorf("status %d Allow %q, want 405 with Allow %q", r.status, r.header.Get("Allow"), tc.allow)
			}
		})
	}

	// The router's own answers come from no processor.
	routerErrors := []struct {
		name, method, target string
		status               int
		code                 string
	}{
		{"unknown path", "GET", "/nowhere", http.StatusNotFound, runtime.CodeNotFound},
		{"method not served", "PUT", "/t/echo/1", http.StatusMethodNotAllowed, runtime.CodeMethodNotAllowed},
		{"post to the neuron's own route", "POST", "/health", http.StatusNotFound, runtime.CodeNotFound},
	}
	for _, tc := range routerErrors {
		e.run(t, tc.name, func(t *testing.T, e *env) {
			r := e.do(tc.method, tc.target, nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d", r.status, tc.status)
			}
			if got := r.apiError(t).Code; got != tc.code {
				t.Errorf("code %q, want %q", got, tc.code)
			}
			if got := r.header.Get(runtime.HeaderPlugin); got != "" {
				t.Errorf("%s = %q on a response no processor made", runtime.HeaderPlugin, got)
			}
		})
	}
}

func TestEndpoints(t *testing.T) {
	e := startEnv(t, runtime.Options{}, guests(t, "echo", "nomanifest"))
	var got []string
	for _, ep := range e.rt.Endpoints() {
		got = append(got, ep.Method+" "+ep.Path)
	}
	want := []string{
		"POST /t/echo/badhost", "POST /t/echo/host", "GET /t/echo/size/{n}",
		"GET /t/echo/{id}", "POST /t/echo/{id}", "GET /t/nomanifest/ok",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Endpoints() =\n %q\nwant\n %q", got, want)
	}
}

func TestNeuronRoutes(t *testing.T) {
	e := newEnv(t, runtime.Options{}, guests(t, "echo", "loop"))

	e.run(t, "ready before LoadDir", func(t *testing.T, e *env) {
		if r := e.get("/ready"); r.status != http.StatusServiceUnavailable {
			t.Fatalf("/ready before LoadDir: status %d, want 503", r.status)
		}
	})
	if err := e.rt.LoadDir(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.run(t, "ready after LoadDir", func(t *testing.T, e *env) {
		if r := e.get("/ready"); r.status != http.StatusOK {
			t.Fatalf("/ready after LoadDir: status %d, want 200", r.status)
		}
	})

	e.run(t, "health", func(t *testing.T, e *env) {
		r := e.get("/health")
		var h struct {
			Status     string            `json:"status"`
			Uptime     *int64            `json:"uptime"`
			Processors map[string]string `json:"processors"`
		}
		if err := json.Unmarshal(r.body, &h); err != nil || r.status != http.StatusOK {
			t.Fatalf("/health: status %d body %s (%v)", r.status, r.body, err)
		}
		want := map[string]string{"echo@1.0.0": "serving", "loop@1.0.0": "serving"}
		if h.Status != "healthy" || h.Uptime == nil || !reflect.DeepEqual(h.Processors, want) {
			t.Errorf("/health = %s; want status healthy, an uptime and processors %v", r.body, want)
		}
	})

	e.run(t, "metrics", func(t *testing.T, e *env) {
		e.get("/t/echo/1")
		e.get("/t/echo/1")
		e.get("/t/echo/size/nope") // the guest's 400
		e.do("POST", "/t/echo/2", strings.NewReader("x"))
		echoGet := []string{"plugin", "echo", "version", "1.0.0", "method", "GET", "route", "/t/echo/{id}"}
		if got := e.mustMetric("neuron_requests_total", append(echoGet, "status", "200")...); got != 2 {
			t.Errorf("neuron_requests_total{GET /t/echo/{id}, 200} = %v, want 2", got)
		}
		if got := e.mustMetric("neuron_requests_total", "route", "/t/echo/size/{n}", "status", "400"); got != 1 {
			t.Errorf("neuron_requests_total{/t/echo/size/{n}, 400} = %v, want 1", got)
		}
		if got := e.mustMetric("neuron_requests_total", "method", "POST", "route", "/t/echo/{id}", "status", "200"); got != 1 {
			t.Errorf("neuron_requests_total{POST /t/echo/{id}, 200} = %v, want 1", got)
		}
		if got := e.mustMetric("neuron_request_duration_seconds_count", echoGet...); got != 2 {
			t.Errorf("neuron_request_duration_seconds_count{GET /t/echo/{id}} = %v, want 2", got)
		}
		e.mustMetric("neuron_request_duration_seconds_bucket", append(echoGet, "le", "+Inf")...)
		if got := e.mustMetric("neuron_pool_instances", "plugin", "echo", "state", "idle"); got < 1 {
			t.Errorf("neuron_pool_instances{echo, idle} = %v, want at least 1", got)
		}
		if got := e.mustMetric("neuron_pool_instances", "plugin", "echo", "state", "busy"); got != 0 {
			t.Errorf("neuron_pool_instances{echo, busy} = %v, want 0", got)
		}
		if got := e.mustMetric("neuron_guest_memory_bytes"); got < 65536 {
			t.Errorf("neuron_guest_memory_bytes = %v with an instance idle, want at least a page", got)
		}
		if _, n := e.metric("neuron_request_errors_total", "code", runtime.CodeTimeout); n != 0 {
			t.Errorf("a timeout is counted before any call timed out")
		}
	})

	t.Run("metrics count timeouts", func(t *testing.T) {
		// A fresh runtime, so that the loop's timeout is short.
		e := startEnv(t, runtime.Options{PluginLimits: map[string]runtime.Limits{"loop": {CallTimeout: 300 * time.Millisecond}}}, guests(t, "loop"))
		if r := e.get("/t/loop/spin"); r.status != http.StatusGatewayTimeout {
			t.Fatalf("/t/loop/spin: status %d, want 504", r.status)
		}
		got := e.mustMetric("neuron_request_errors_total", "plugin", "loop", "version", "1.0.0", "method", "GET",
			"route", "/t/loop/spin", "code", runtime.CodeTimeout)
		if got != 1 {
			t.Errorf("neuron_request_errors_total{code=timeout} = %v, want 1", got)
		}
	})

	e.run(t, "ready after Close", func(t *testing.T, e *env) {
		if err := e.rt.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r := e.get("/ready"); r.status != http.StatusServiceUnavailable {
			t.Fatalf("/ready after Close: status %d, want 503", r.status)
		}
		if r := e.get("/health"); r.status != http.StatusOK || !strings.Contains(string(r.body), `"processors":{}`) {
			t.Errorf("/health after Close: status %d body %s; want 200 and no processors", r.status, r.body)
		}
	})
}
