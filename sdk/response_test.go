package sdk

import (
	"encoding/json"
	"math"
	"testing"
)

func TestResponses(t *testing.T) {
	tests := []struct {
		name       string
		resp       Response
		wantStatus int
		wantType   string
		wantBody   string
	}{
		{"JSON", JSON(201, map[string]int{"n": 1}), 201, "application/json", `{"n":1}`},
		{"JSON unencodable", JSON(200, math.Inf(1)), 500, "application/json",
			`{"error":"encode response: json: unsupported value: +Inf","code":"internal_error"}`},
		{"Text", Text(202, "hi"), 202, "text/plain; charset=utf-8", "hi"},
		{"Error", Error(404, `no "x"`), 404, "application/json", `{"error":"no \"x\"","code":"not_found"}`},
		{"Error unnamed status", Error(418, "teapot"), 418, "application/json", `{"error":"teapot","code":"http_418"}`},
		{"ErrorCode", ErrorCode(413, "batch_too_large", "big"), 413, "application/json",
			`{"error":"big","code":"batch_too_large"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.resp
			if r.Status != tc.wantStatus || string(r.Body) != tc.wantBody {
				t.Errorf("got %d %s, want %d %s", r.Status, r.Body, tc.wantStatus, tc.wantBody)
			}
			if len(r.Header) != 1 || r.Header[0].Name != "Content-Type" || r.Header[0].Value != tc.wantType {
				t.Errorf("header %v, want Content-Type %q", r.Header, tc.wantType)
			}
		})
	}
}

func TestResponse_WithHeader(t *testing.T) {
	a := JSON(200, 1).WithHeader("X-A", "1")
	b := JSON(200, 1).WithHeader("X-B", "2")
	if len(a.Header) != 2 || a.Header[1].Value != "1" || b.Header[1].Value != "2" {
		t.Errorf("headers share storage: %v %v", a.Header, b.Header)
	}
	if len(jsonHeader) != 1 {
		t.Errorf("the shared header changed: %v", jsonHeader)
	}
}

func TestStatusCode(t *testing.T) {
	for _, s := range []int{400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 501, 503} {
		var e struct{ Code string }
		if err := json.Unmarshal(Error(s, "x").Body, &e); err != nil || e.Code == "" || e.Code[:5] == "http_" {
			t.Errorf("status %d: code %q, %v", s, e.Code, err)
		}
	}
}
