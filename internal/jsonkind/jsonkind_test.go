package jsonkind_test

import (
	"encoding/json"
	"testing"

	"github.com/empirefederation/neuron/internal/jsonkind"
)

// A decoded value and the JSON it was decoded from get the same name.
func TestOf_MatchesOfJSON(t *testing.T) {
	for _, doc := range []string{`{"a":1}`, `[1]`, `"s"`, `1.5`, `-2`, `true`, `false`, `null`} {
		var v any
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatal(err)
		}
		if of, raw := jsonkind.Of(v), jsonkind.OfJSON([]byte(" "+doc)); of != raw {
			t.Errorf("%s: Of = %q, OfJSON = %q", doc, of, raw)
		}
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{nil, "null"},
		{map[string]any{}, "an object"},
		{[]any{}, "an array"},
		{"", "a string"},
		{true, "a boolean"},
		{int64(3), "a number"},
		{uint64(3), "a number"},
		{json.Number("3"), "a number"},
		{3.5, "a number"},
		{struct{}{}, "a struct {}"},
	} {
		if got := jsonkind.A(tc.v); got != tc.want {
			t.Errorf("A(%#v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	for data, want := range map[string]string{"": "nothing", " \n": "nothing", "x": "invalid JSON", "[]": "array"} {
		if got := jsonkind.OfJSON([]byte(data)); got != want {
			t.Errorf("OfJSON(%q) = %q, want %q", data, got, want)
		}
	}
}
