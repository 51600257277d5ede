package experiment_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/experiment"
)

// The runtime compiles an experiment once per update, then per call reads
// the sticky key, assigns a variant and records the outcome.
func Example() {
	split, err := experiment.Compile(federation.Experiment{
		ID:        "exp-ranking",
		Plugin:    "ranker",
		StickyKey: "json:userId",
		Variants: []federation.Variant{
			{Name: "control", Weight: 90, Version: "1.4.0"},
			{Name: "rerank", Weight: 10, Version: "1.5.0"},
		},
		Guardrails: &federation.Guardrails{ErrorRate: 5, ResponseTime: 800},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, user := range []string{"alice", "bob", "carol", "dave"} {
		body := `{"userId":"` + user + `","query":"shoes"}`
		r := httptest.NewRequest("POST", "/rank", strings.NewReader(body))
		v := split.AssignRandom()
		if key, ok := split.Key(r, []byte(body)); ok {
			v = split.Assign(key)
		}
		split.Observe(v, 200, 12*time.Millisecond)
		fmt.Printf("%s -> %s (version %s)\n", user, split.Name(v), split.Variants()[v].Version)
	}
	// Output:
	// alice -> control (version 1.4.0)
	// bob -> control (version 1.4.0)
	// carol -> control (version 1.4.0)
	// dave -> rerank (version 1.5.0)
}

// Compile lists every problem at once.
func ExampleCompile_errors() {
	_, err := experiment.Compile(federation.Experiment{
		ID:        "exp-1",
		StickyKey: "cookie:sid",
		Variants:  []federation.Variant{{Name: "a", Weight: 60}, {Name: "a", Weight: 30}},
	})
	fmt.Println(err)
	// Output:
	// experiment "exp-1" is invalid: plugin is empty: name the processor whose calls the variants split; variants[1]: name "a" is used twice (also variants[0]); weights sum to 90, want 100; stickyKey "cookie:sid" has unknown source "cookie": want header:NAME, query:NAME or json:FIELD
}
