package experiment

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
)

func TestCompile(t *testing.T) {
	tests := []struct {
		name        string
		wire        string
		wantControl int
		wantSticky  stickyKey
	}{
		{"control named", `{"id":"e","plugin":"p","stickyKey":"header:x-user-id","variants":[{"name":"a","weight":50},{"name":"control","weight":50}]}`,
			1, stickyKey{keyHeader, "X-User-Id"}},
		{"first is control", `{"id":"e","plugin":"p","stickyKey":"query:uid","variants":[{"name":"base","weight":50},{"name":"new","weight":50}]}`,
			0, stickyKey{keyQuery, "uid"}},
		{"json key, zero weight", `{"id":"e","plugin":"p","stickyKey":"json:user.id","variants":[{"name":"a","weight":100},{"name":"b","weight":0}]}`,
			0, stickyKey{keyJSON, "user.id"}},
		{"no sticky key, reference fields too", `{"id":"e","variant":"v2","config":{"batchSize":10},"plugin":"p","variants":[{"name":"a","weight":1},{"name":"b","weight":99}],"guardrails":{}}`,
			0, stickyKey{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e federation.Experiment
			if err := json.Unmarshal([]byte(tc.wire), &e); err != nil {
				t.Fatal(err)
			}
			s := mustCompile(t, e)
			if s.Control() != tc.wantControl || s.sticky != tc.wantSticky {
				t.Errorf("control %d, sticky %+v; want %d, %+v", s.Control(), s.sticky, tc.wantControl, tc.wantSticky)
			}
			if s.ID() != "e" || s.Plugin() != "p" || !slices.EqualFunc(s.Variants(), e.Variants, func(a, b federation.Variant) bool { return a.Name == b.Name && a.Weight == b.Weight }) {
				t.Errorf("accessors: %q %q %+v", s.ID(), s.Plugin(), s.Variants())
			}
		})
	}
}

// TestCompileGuardrailSource: the experiment's guardrails win whole (a zero
// there is no limit); without them the defaults apply.
func TestCompileGuardrailSource(t *testing.T) {
	defaults := WithDefaultGuardrails(federation.Guardrails{ErrorRate: 5, ResponseTime: 2000})
	tests := []struct {
		name string
		g    *federation.Guardrails
		want federation.Guardrails
	}{
		{"absent: the neuron's thresholds", nil, federation.Guardrails{ErrorRate: 5, ResponseTime: 2000}},
		{"present: the experiment's", &federation.Guardrails{ErrorRate: 1}, federation.Guardrails{ErrorRate: 1}},
		{"empty: no limits", &federation.Guardrails{}, federation.Guardrails{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := experiment("e", []string{"control", "b"}, 50, 50)
			e.Guardrails = tc.g
			if got := mustCompile(t, e, defaults).guard.limits; got != tc.want {
				t.Errorf("limits %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCompile_Errors(t *testing.T) {
	valid := func() federation.Experiment { return experiment("exp-1", []string{"control", "b"}, 50, 50) }
	tests := []struct {
		name   string
		change func(*federation.Experiment)
		opts   []Option
		want   []string // one substring per problem, in order
	}{
		{"empty id", func(e *federation.Experiment) { e.ID = " " }, nil, []string{"id is empty"}},
		{"stop request", func(e *federation.Experiment) { e.Stop = true }, nil, []string{"stop is set"}},
		{"no plugin", func(e *federation.Experiment) { e.Plugin = "" }, nil, []string{"plugin is empty"}},
		{"one variant", func(e *federation.Experiment) { e.Variants = e.Variants[:1]; e.Variants[0].Weight = 100 }, nil,
			[]string{"variants: 1 given, want at least 2"}},
		{"no variants", func(e *federation.Experiment) { e.Variants = nil }, nil, []string{"variants: 0 given"}},
		{"duplicate name", func(e *federation.Experiment) { e.Variants[1].Name = "control" }, nil,
			[]string{`variants[1]: name "control" is used twice (also variants[0])`}},
		{"bad names", func(e *federation.Experiment) {
			e.Variants[0].Name, e.Variants[1].Name = "", "a\r\nb"
		}, nil, []string{`variants[0]: name "" is empty`, `variants[1]: name "a\r\nb" has a control`}},
		{"padded name", func(e *federation.Experiment) { e.Variants[1].Name = " b" }, nil, []string{"leading or trailing spaces"}},
		{"long name", func(e *federation.Experiment) { e.Variants[1].Name = strings.Repeat("n", 129) }, nil, []string{"longer than 128 bytes"}},
		{"negative weight", func(e *federation.Experiment) { e.Variants[0].Weight, e.Variants[1].Weight = -10, 110 }, nil,
			[]string{"variants[0]: weight -10 is negative"}},
		{"weights not 100", func(e *federation.Experiment) { e.Variants[1].Weight = 40 }, nil, []string{"weights sum to 90, want 100"}},
		{"sticky key without colon", func(e *federation.Experiment) { e.StickyKey = "user" }, nil, []string{`stickyKey "user" has no colon`}},
		{"sticky key unknown source", func(e *federation.Experiment) { e.StickyKey = "cookie:sid" }, nil, []string{`unknown source "cookie"`}},
		{"sticky key empty name", func(e *federation.Experiment) { e.StickyKey = "json:" }, nil, []string{"names nothing after the colon"}},
		{"sticky key bad header", func(e *federation.Experiment) { e.StickyKey = "header:X User" }, nil, []string{`"X User" is not a valid header name`}},
		{"sticky key upper-case source", func(e *federation.Experiment) { e.StickyKey = "Header:X-User" }, nil, []string{`unknown source "Header"`}},
		{"guardrails out of range", func(e *federation.Experiment) {
			e.Guardrails = &federation.Guardrails{ErrorRate: 101, ResponseTime: -1}
		}, nil, []string{"guardrails: errorRate 101", "guardrails: responseTime -1"}},
		{"guardrails NaN", func(e *federation.Experiment) { e.Guardrails = &federation.Guardrails{ErrorRate: math.NaN()} }, nil,
			[]string{"guardrails: errorRate NaN"}},
		{"bad options", nil, []Option{WithWindow(0), WithMinSamples(0), WithDefaultGuardrails(federation.Guardrails{ResponseTime: math.Inf(1)})},
			[]string{"default guardrails: responseTime +Inf", "window 0s is not positive", "minimum samples 0 is below 1"}},
		{"everything at once", func(e *federation.Experiment) {
			*e = federation.Experiment{StickyKey: "body:x", Variants: []federation.Variant{{Name: "x", Weight: 5}, {Name: "x", Weight: 5}}}
		}, nil, []string{"id is empty", "plugin is empty", `name "x" is used twice`, "weights sum to 10", `stickyKey "body:x"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := valid()
			if tc.change != nil {
				tc.change(&e)
			}
			_, err := Compile(e, tc.opts...)
			var invalid *InvalidError
			if !errors.As(err, &invalid) {
				t.Fatalf("Compile = %v, want an *InvalidError", err)
			}
			if len(invalid.Problems) != len(tc.want) {
				t.Fatalf("problems %q, want %d matching %q", invalid.Problems, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(invalid.Problems[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, invalid.Problems[i], w)
				}
			}
			if msg := err.Error(); !strings.HasPrefix(msg, `experiment "`+e.ID+`" is invalid: `) || !strings.Contains(msg, invalid.Problems[len(invalid.Problems)-1]) {
				t.Errorf("error %q does not name the experiment and list the problems", msg)
			}
		})
	}
}

func TestCompileDefaults(t *testing.T) {
	s := mustCompile(t, experiment("e", []string{"control", "b"}, 50, 50))
	if s.guard.window != DefaultWindow || s.guard.minSamples != DefaultMinSamples || s.guard.limits != (federation.Guardrails{}) {
		t.Errorf("guard %+v, want window %s, %d samples, no limits", s.guard.window, DefaultWindow, DefaultMinSamples)
	}
	s = mustCompile(t, experiment("e", []string{"control", "b"}, 50, 50), WithWindow(time.Minute), WithMinSamples(5))
	if s.guard.window != time.Minute || s.guard.minSamples != 5 {
		t.Errorf("options ignored: window %s, %d samples", s.guard.window, s.guard.minSamples)
	}
}
