package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/sdk/sdktest"
)

const batch = `{"batchId": "batch-789", "records": [
	{"id": "c1", "email": "ada@example.com", "name": "Ada"},
	{"id": "c1", "email": "ada@example.com", "name": "Ada again"},
	{"id": "c2", "email": "ADA@example.com ", "name": "Ada's twin"},
	{"id": "c3", "email": "not-an-email"},
	{"email": "nobody@example.com"}
]}`

func TestProcess(t *testing.T) {
	tests := []struct {
		name, config, body string
		wantStatus         int
		wantBody           string // a JSON object whose fields the answer must have
	}{
		{"dedups by id only", `{}`, batch, 200,
			`{"batchId":"batch-789","recordsReceived":5,"recordsProcessed":2,"duplicatesFound":1,"invalidRecords":2,"version":"1.0.0"}`},
		{"empty batch", `{}`, `{"batchId":"e","records":[]}`, 200,
			`{"batchId":"e","recordsProcessed":0,"duplicatesFound":0,"invalidRecords":0}`},
		{"malformed JSON", `{}`, `{"batchId": "x", "records": [`, 400,
			`{"error":"request body: unexpected end of JSON input","code":"bad_request"}`},
		{"empty body", `{}`, ``, 400, `{"error":"request body is empty","code":"bad_request"}`},
		{"no batchId", `{}`, `{"records":[]}`, 400, `{"error":"\"batchId\" is required","code":"bad_request"}`},
		{"no records", `{}`, `{"batchId":"x"}`, 400, `{"error":"\"records\" must be an array","code":"bad_request"}`},
		{"records not an array", `{}`, `{"batchId":"x","records":{}}`, 400, `{"code":"bad_request"}`},
		{"over batchSize", `{"batchSize": 4}`, batch, 413,
			`{"error":"batch batch-789 has 5 records; the limit (batchSize) is 4","code":"batch_too_large"}`},
		{"at batchSize", `{"batchSize": 5}`, batch, 200, `{"recordsProcessed":2}`},
		{"bad config", `{"batchSize": "many"}`, batch, 500, `{"code":"config_invalid"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sdktest.Start(t)
			sdktest.SetConfig(tc.config)
			resp := sdktest.Call("POST", "/process", tc.body, "Content-Type", "application/json")
			if resp.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.Status, tc.wantStatus, resp.Body)
			}
			assertFields(t, resp.Body, tc.wantBody)
		})
	}
}

func TestProcess_Records(t *testing.T) {
	sdktest.Start(t)
	sdktest.SetConfig(`{"enableDebugMode": true}`)
	sdktest.Call("POST", "/process", batch)
	m := sdktest.Metrics()
	if m["recordsProcessed"] != 2 || m["batchesCompleted"] != 1 || m["duplicatesFound"] != 1 {
		t.Errorf("metrics %v", m)
	}
	ev := sdktest.Events()
	if len(ev) != 1 || ev[0].Type != "batch_completed" {
		t.Fatalf("events %v", ev)
	}
	assertFields(t, ev[0].Data, `{"batchId":"batch-789","recordCount":5}`)
	if logs := sdktest.Logs(); len(logs) != 1 || logs[0].Msg != "batch processed" || logs[0].Attrs["duplicates"] != 1.0 {
		t.Errorf("logs %+v", logs)
	}

	sdktest.Reset() // refused batches count nothing
	sdktest.Call("POST", "/process", `{`)
	if len(sdktest.Metrics())+len(sdktest.Events())+len(sdktest.Logs()) != 0 {
		t.Errorf("a refused batch was recorded: %v %v %v", sdktest.Metrics(), sdktest.Events(), sdktest.Logs())
	}
}

func TestStatus(t *testing.T) {
	sdktest.Start(t)
	sdktest.SetConfig(`{"batchSize": 50, "somethingElse": 1}`)
	before := status(t)
	sdktest.Call("POST", "/process", batch)
	sdktest.Call("POST", "/process", `not json`)
	after := status(t)
	if after.Version != "1.0.0" || after.Status != "ready" || after.Features.DedupByEmail || after.Config.BatchSize != 50 {
		t.Errorf("status %+v", after)
	}
	if d := after.Instance.Batches - before.Instance.Batches; d != 1 {
		t.Errorf("batches grew by %d, want 1", d)
	}
	if d := after.Instance.Rejected - before.Instance.Rejected; d != 1 {
		t.Errorf("rejected grew by %d, want 1", d)
	}
	if after.Instance.LastBatchID != "batch-789" {
		t.Errorf("last batch %q", after.Instance.LastBatchID)
	}
}

func TestSelfTestAndManifest(t *testing.T) {
	if err := sdktest.SelfTest(); err != nil {
		t.Error(err)
	}
	m, err := sdktest.Manifest()
	if err != nil || m.Name != "data-processor" || m.Version != "1.0.0" || len(m.Endpoints) != 2 {
		t.Errorf("manifest %+v, %v", m, err)
	}
	if want := map[string]any{"batchSize": 1000.0, "enableDebugMode": false}; !reflect.DeepEqual(m.Settings, want) {
		t.Errorf("settings %v, want %v", m.Settings, want)
	}
}

type statusBody struct {
	Version, Status string
	Features        struct{ DedupByEmail bool }
	Config          struct{ BatchSize int }
	Instance        struct {
		Batches     int    `json:"batchesProcessed"`
		Rejected    int    `json:"batchesRejected"`
		LastBatchID string `json:"lastBatchId"`
	}
}

func status(t *testing.T) statusBody {
	t.Helper()
	resp := sdktest.Call("GET", "/status", "")
	var s statusBody
	if err := json.Unmarshal(resp.Body, &s); err != nil || resp.Status != 200 {
		t.Fatalf("status %d %s: %v", resp.Status, resp.Body, err)
	}
	return s
}

// assertFields checks that the JSON object got has every field of want, with
// equal values.
func assertFields(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w map[string]any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("answer %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	for k, v := range w {
		gv, _ := json.Marshal(g[k])
		wv, _ := json.Marshal(v)
		if string(gv) != string(wv) && !(k == "error" && strings.HasPrefix(string(gv), strings.TrimSuffix(string(wv), `"`))) {
			t.Errorf("%s = %s, want %s (answer %s)", k, gv, wv, got)
		}
	}
}
