package sdk

import (
	"errors"
	"testing"

	"github.com/empirefederation/neuron/sdk/abi"
)

func TestRequest_Var(t *testing.T) {
	r := &Request{Vars: []abi.Pair{{Name: "id", Value: "7"}, {Name: "name", Value: "ada"}, {Name: "id", Value: "8"}}}
	tests := []struct{ name, want string }{{"id", "7"}, {"name", "ada"}, {"ID", ""}, {"x", ""}}
	for _, tc := range tests {
		if got := r.Var(tc.name); got != tc.want {
			t.Errorf("Var(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestRequest_Header(t *testing.T) {
	r := &Request{Headers: []abi.Pair{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Key", Value: "k"}}}
	tests := []struct{ name, want string }{
		{"Content-Type", "application/json"}, {"content-type", "application/json"}, {"X-KEY", "k"}, {"Accept", ""},
	}
	for _, tc := range tests {
		if got := r.Header(tc.name); got != tc.want {
			t.Errorf("Header(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestRequest_Query(t *testing.T) {
	tests := []struct {
		name, raw, key, want string
	}{
		{"plain", "a=1&b=2", "b", "2"},
		{"first wins", "a=1&a=2", "a", "1"},
		{"absent", "a=1", "b", ""},
		{"empty query", "", "a", ""},
		{"no value", "a&b=2", "a", ""},
		{"empty value", "a=&b=2", "a", ""},
		{"escaped value", "q=hello%20world+x", "q", "hello world x"},
		{"escaped key", "my%20key=v", "my key", "v"},
		{"plus in key", "my+key=v", "my key", "v"},
		{"bad escape in value skipped", "a=%zz&a=ok", "a", "ok"},
		{"bad escape in key skipped", "%zz=1&a=2", "a", "2"},
		{"equals in value", "t=a=b", "t", "a=b"},
		{"prefix is not a match", "ab=1", "a", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Request{RawQuery: tc.raw}
			if got := r.Query(tc.key); got != tc.want {
				t.Errorf("Query(%q) on %q = %q, want %q", tc.key, tc.raw, got, tc.want)
			}
		})
	}
}

func TestRequest_DecodeJSON(t *testing.T) {
	var v struct{ A int }
	if err := (&Request{Body: []byte(`{"A":3}`)}).DecodeJSON(&v); err != nil || v.A != 3 {
		t.Errorf("got %v, %+v", err, v)
	}
}

func TestRequest_DecodeJSON_Errors(t *testing.T) {
	tests := []struct {
		name, body, expectedErr string
	}{
		{"empty", "", "request body is empty"},
		{"truncated", `{"A":`, "request body: unexpected end of JSON input"},
		{"wrong type", `{"A":"x"}`, "request body: json: cannot unmarshal string"},
		{"not JSON", `hello`, "request body: invalid character 'h'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v struct{ A int }
			err := (&Request{Body: []byte(tc.body)}).DecodeJSON(&v)
			if err == nil || len(err.Error()) < len(tc.expectedErr) || err.Error()[:len(tc.expectedErr)] != tc.expectedErr {
				t.Errorf("got %v, want prefix %q", err, tc.expectedErr)
			}
			if tc.body == "" && !errors.Is(err, ErrEmptyBody) {
				t.Errorf("%v is not ErrEmptyBody", err)
			}
		})
	}
}
