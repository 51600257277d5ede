package federation_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/federation/fedtest"
	"github.com/empirefederation/neuron/internal/testutil"
)

// The reference guide's examples (testdata/*.json, copied verbatim) decode
// strictly into our types and encode back with the same names and JSON
// kinds; the only extra keys are the documented ones.
func TestWire_ReferenceExamples(t *testing.T) {
	tests := []struct {
		file  string
		value func() any
		extra []string
	}{
		{"registration.json", func() any { return new(federation.Registration) }, nil},
		{"status.json", func() any { return new(federation.Status) }, nil},
		// The documented analytics example has no timestamp (the reference
		// client sends one) and its events have no id (ours always do).
		{"analytics.json", func() any { return new(federation.AnalyticsReport) }, []string{"$.timestamp", "$.events[0].id"}},
		{"update.json", func() any { return new(federation.Update) }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			ref, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			v := tc.value()
			dec := json.NewDecoder(bytes.NewReader(ref))
			dec.DisallowUnknownFields()
			if err := dec.Decode(v); err != nil {
				t.Fatalf("decode the reference example strictly: %v", err)
			}
			ours, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			problems, extra, err := fedtest.Shape(ref, ours)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Errorf("shape: %s", p)
			}
			if slices.Sort(tc.extra); !slices.Equal(extra, tc.extra) {
				t.Errorf("extra keys in our encoding: got %q, want %q\nours: %s", extra, tc.extra, ours)
			}
			// And back: our encoding decodes to what encodes the same.
			again := tc.value()
			if err := json.Unmarshal(ours, again); err != nil {
				t.Fatal(err)
			}
			if twice, _ := json.Marshal(again); !bytes.Equal(twice, ours) {
				t.Errorf("round trip changed the value:\n got %s\nwant %s", twice, ours)
			}
		})
	}
}

// TestWire_ReferenceExamplesAreVerbatim: each testdata/*.json example is the
// JSON body of the reference guide's section that shows it, byte for byte,
// when the guide is at hand (testdata/README.md); -update copies them again.
func TestWire_ReferenceExamplesAreVerbatim(t *testing.T) {
	for file, heading := range map[string]string{
		"registration.json": "### 1. Registration (Required on Boot)",
		"status.json":       "### 2. Heartbeat System (Every 60 seconds)",
		"analytics.json":    "### 3. Analytics Reporting",
		"update.json":       "### 4. Configuration Updates",
	} {
		t.Run(file, func(t *testing.T) {
			block := testutil.GuideBlock(t, heading)
			// The block is the request: a request line and headers, then
			// the body from its first line that opens an object.
			start := bytes.Index(block, []byte("\n{"))
			if start < 0 {
				t.Fatalf("the guide's %q block has no JSON body:\n%s", heading, block)
			}
			testutil.Golden(t, filepath.Join("testdata", file), block[start+1:])
		})
	}
}
