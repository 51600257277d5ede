package main

import (
	"encoding/json"
	"testing"

	"github.com/empirefederation/neuron/sdk/sdktest"
)

func TestHello(t *testing.T) {
	sdktest.Start(t)
	tests := []struct {
		name, target string
		wantStatus   int
		want         greeting
	}{
		{"name", "/hello/ada", 200, greeting{"Hello, ada!", "ada"}},
		{"escaped name", "/hello/J%C3%BCrgen", 200, greeting{"Hello, Jürgen!", "Jürgen"}},
		{"no name", "/hello/", 404, greeting{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := sdktest.Call("GET", tc.target, "")
			if resp.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.Status, tc.wantStatus, resp.Body)
			}
			if tc.wantStatus != 200 {
				return
			}
			var got greeting
			if err := json.Unmarshal(resp.Body, &got); err != nil || got != tc.want {
				t.Errorf("got %+v (%v), want %+v", got, err, tc.want)
			}
		})
	}
}

func TestManifest(t *testing.T) {
	m, err := sdktest.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "hello" || m.Version != "1.0.0" || len(m.Endpoints) != 1 ||
		m.Endpoints[0].Method != "GET" || m.Endpoints[0].Path != "/hello/{name}" {
		t.Errorf("manifest %+v", m)
	}
}
