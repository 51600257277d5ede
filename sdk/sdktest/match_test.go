//go:build !wasip1

package sdktest

import (
	"fmt"
	"testing"

	"github.com/empirefederation/neuron/sdk/abi"
)

func TestMatch(t *testing.T) {
	eps := []abi.Endpoint{
		{Method: "GET", Path: "/users/me"},
		{Method: "GET", Path: "/users/{id}"},
		{Method: "GET", Path: "/files/{name}.{ext:[a-z]+}"},
		{Method: "GET", Path: "/years/{y:[0-9]{4}}/{rest:.*}"},
		{Method: "POST", Path: "/users"},
		{Method: "GET", Path: "/groups/{g:(?:a|b)(x)?}/{m}"},
	}
	tests := []struct {
		method, path string
		wantRoute    string
		wantVars     string
		wantStatus   int
	}{
		{"GET", "/users/me", "/users/me", "[]", 0},
		{"GET", "/users/42", "/users/{id}", "[{id 42}]", 0},
		{"GET", "/users/", "", "", 404},
		{"GET", "/users/4/2", "", "", 404},
		{"GET", "/files/a.b.txt", "/files/{name}.{ext:[a-z]+}", "[{name a.b} {ext txt}]", 0},
		{"GET", "/years/2024/a/b", "/years/{y:[0-9]{4}}/{rest:.*}", "[{y 2024} {rest a/b}]", 0},
		{"GET", "/years/24/a", "", "", 404},
		{"GET", "/users", "", "", 405},
		{"DELETE", "/users/1", "", "", 405},
		{"GET", "/groups/ax/m1", "/groups/{g:(?:a|b)(x)?}/{m}", "[{g ax} {m m1}]", 0},
		{"GET", "/nothing", "", "", 404},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			ep, vars, status := match(eps, tc.method, tc.path)
			if status != tc.wantStatus || ep.Path != tc.wantRoute || status == 0 && fmt.Sprint(vars) != tc.wantVars {
				t.Errorf("got %q %v %d, want %q %s %d", ep.Path, vars, status, tc.wantRoute, tc.wantVars, tc.wantStatus)
			}
		})
	}
}

func TestCompile_Errors(t *testing.T) {
	for _, tpl := range []string{"/a/{id", "/a/{id:[}"} {
		if _, _, err := compile(tpl); err == nil {
			t.Errorf("%q compiled", tpl)
		}
	}
}
