package federation

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The update example also parses with ParseUpdate, integers exact.
func TestWire_ReferenceUpdateParses(t *testing.T) {
	ref, err := os.ReadFile(filepath.Join("testdata", "update.json"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := ParseUpdate(ref)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Config["batchSize"]; got != json.Number("1000") {
		t.Errorf("config.batchSize = %#v, want json.Number 1000", got)
	}
	if u.Experiment == nil || u.Experiment.Variant != "optimized_batch_size" || u.Experiment.Config["batchSize"] != json.Number("1500") {
		t.Errorf("experiment = %+v", u.Experiment)
	}
	if u.Command == nil || u.Command.Type != "restart_worker" || !json.Valid(u.Command.Data) {
		t.Errorf("command = %+v", u.Command)
	}
}

// Zero values still encode lists and maps with the reference's kinds, never
// null, and optional fields are left out.
func TestWire_ZeroValuesKeepKinds(t *testing.T) {
	tests := []struct {
		name  string
		value any
		want  []string // substrings of the encoding
		not   []string
	}{
		{"registration", Registration{}, []string{`"apiEndpoints":[]`, `"capabilities":[]`, `"dependencies":[]`, `"metadata":{}`, `"alertThresholds":{"errorRate":0,`},
			[]string{"null", "tokenEndpoint", "ports"}},
		{"status", Status{}, []string{`"dependencyStatus":{}`, `"hostInfo":{"hostname":"","ip":""}`}, []string{"null", "containerId"}},
		{"analytics", AnalyticsReport{}, []string{`"events":[]`, `"customMetrics":{}`}, []string{"null", "breakdown", "dropped"}},
		{"update", Update{}, []string{`{}`}, []string{"config", "null"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.value)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("encoding lacks %s: %s", w, b)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(string(b), n) {
					t.Errorf("encoding has %s: %s", n, b)
				}
			}
		})
	}
}

// Event timestamps are UTC RFC 3339, with fractions only when there are
// any; the extras of a report (breakdown, dropped) appear when set.
func TestWire_EventsAndExtras(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"whole seconds", Event{ID: "1", Type: "t", Timestamp: time.Date(2025, 1, 21, 12, 30, 0, 0, paris)},
			`{"id":"1","type":"t","timestamp":"2025-01-21T11:30:00Z"}`},
		{"fraction and extras", Event{ID: "2", Type: "alert", Timestamp: time.Date(2025, 1, 21, 11, 30, 0, 5e8, time.UTC),
			Data: json.RawMessage(`{"k":1}`), Plugin: "p", Version: "1.0.0"},
			`{"id":"2","type":"alert","timestamp":"2025-01-21T11:30:00.5Z","data":{"k":1},"plugin":"p","version":"1.0.0"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
			var back Event
			if err := json.Unmarshal(b, &back); err != nil || !back.Timestamp.Equal(tc.ev.Timestamp) {
				t.Errorf("decode back: %v, %v", back.Timestamp, err)
			}
		})
	}
	rep := AnalyticsReport{Breakdown: []BreakdownRow{{Plugin: "p", Version: "1", Variant: "b", TotalRequests: 3}}, Dropped: 2}
	b, _ := json.Marshal(rep)
	for _, w := range []string{`"breakdown":[{"plugin":"p","version":"1","variant":"b","totalRequests":3,`, `"dropped":2`} {
		if !strings.Contains(string(b), w) {
			t.Errorf("report encoding lacks %s: %s", w, b)
		}
	}
}

func TestNewEventID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewEventID()
		if len(id) != 32 || seen[id] {
			t.Fatalf("event id %q: wrong length or repeated", id)
		}
		seen[id] = true
	}
}
