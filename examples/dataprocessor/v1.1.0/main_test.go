package main

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/empirefederation/neuron/sdk/sdktest"
)

// The same batch as 1.0.0's test: 1.1.0 also finds c2, whose email repeats
// c1's after normalisation, and lists what it found.
const batch = `{"batchId": "batch-789", "records": [
	{"id": "c1", "email": "ada@example.com", "name": "Ada"},
	{"id": "c1", "email": "ada@example.com", "name": "Ada again"},
	{"id": "c2", "email": "ADA@example.com ", "name": "Ada's twin"},
	{"id": "c3", "email": "not-an-email"},
	{"email": "nobody@example.com"}
]}`

type answer struct {
	BatchID          string `json:"batchId"`
	RecordsReceived  int    `json:"recordsReceived"`
	RecordsProcessed int    `json:"recordsProcessed"`
	DuplicatesFound  int    `json:"duplicatesFound"`
	InvalidRecords   int    `json:"invalidRecords"`
	Version          string `json:"version"`
	Invalid          []map[string]any
	Duplicates       []map[string]any
}

func TestProcess(t *testing.T) {
	tests := []struct {
		name, config string
		want         answer
	}{
		{"dedups by id and email, with details", `{}`, answer{
			BatchID: "batch-789", RecordsReceived: 5, RecordsProcessed: 1, DuplicatesFound: 2, InvalidRecords: 2, Version: "1.1.0",
			Invalid: []map[string]any{
				{"index": 3.0, "id": "c3", "reason": `"email" is not a valid address`},
				{"index": 4.0, "reason": `"id" must be a non-empty string or a number`},
			},
			Duplicates: []map[string]any{
				{"index": 1.0, "id": "c1", "of": 0.0, "by": "id"},
				{"index": 2.0, "id": "c2", "of": 0.0, "by": "email"},
			},
		}},
		{"maxDetails bounds the lists", `{"maxDetails": 1}`, answer{
			BatchID: "batch-789", RecordsReceived: 5, RecordsProcessed: 1, DuplicatesFound: 2, InvalidRecords: 2, Version: "1.1.0",
			Invalid:    []map[string]any{{"index": 3.0, "id": "c3", "reason": `"email" is not a valid address`}},
			Duplicates: []map[string]any{{"index": 1.0, "id": "c1", "of": 0.0, "by": "id"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sdktest.Start(t)
			sdktest.SetConfig(tc.config)
			resp := sdktest.Call("POST", "/process", batch)
			var got answer
			if err := json.Unmarshal(resp.Body, &got); err != nil || resp.Status != 200 {
				t.Fatalf("%d %s: %v", resp.Status, resp.Body, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if m := sdktest.Metrics(); m["recordsProcessed"] != 1 || m["duplicatesFound"] != 2 || m["batchesCompleted"] != 1 {
				t.Errorf("metrics %v", m)
			}
		})
	}
}

func TestProcess_Errors(t *testing.T) {
	tests := []struct {
		name, config, body string
		wantStatus         int
		wantCode           string
	}{
		{"malformed JSON", `{}`, `{"batchId":`, 400, "bad_request"},
		{"over batchSize", `{"batchSize": 2}`, batch, 413, "batch_too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sdktest.Start(t)
			sdktest.SetConfig(tc.config)
			resp := sdktest.Call("POST", "/process", tc.body)
			var e struct{ Error, Code string }
			if err := json.Unmarshal(resp.Body, &e); err != nil || resp.Status != tc.wantStatus || e.Code != tc.wantCode || e.Error == "" {
				t.Errorf("got %d %s, want %d %s", resp.Status, resp.Body, tc.wantStatus, tc.wantCode)
			}
		})
	}
}

func TestStatusAndManifest(t *testing.T) {
	resp := sdktest.Call("GET", "/status", "")
	var s struct {
		Version  string
		Features struct{ DedupByEmail, Details bool }
	}
	if err := json.Unmarshal(resp.Body, &s); err != nil || s.Version != "1.1.0" || !s.Features.DedupByEmail || !s.Features.Details {
		t.Errorf("status %s", resp.Body)
	}
	if err := sdktest.SelfTest(); err != nil {
		t.Error(err)
	}
	m, err := sdktest.Manifest()
	if err != nil || m.Name != "data-processor" || m.Version != "1.1.0" {
		t.Errorf("manifest %+v, %v", m, err)
	}
	if want := map[string]any{"batchSize": 1000.0, "enableDebugMode": false, "maxDetails": 100.0}; !reflect.DeepEqual(m.Settings, want) {
		t.Errorf("settings %v, want %v", m.Settings, want)
	}
}
