package fedtest

import (
	"slices"
	"testing"
)

func TestShape(t *testing.T) {
	tests := []struct {
		name          string
		ref, ours     string
		free          []string
		wantProblems  int
		wantExtraKeys []string
	}{
		{"same", `{"a":1,"b":{"c":"x"},"d":[{"e":true}]}`, `{"a":2.5,"b":{"c":"y"},"d":[{"e":false}]}`, nil, 0, nil},
		{"missing key", `{"a":1,"b":2}`, `{"a":1}`, nil, 1, nil},
		{"number as string", `{"a":1}`, `{"a":"1"}`, nil, 1, nil},
		{"nested kind", `{"a":{"b":[1]}}`, `{"a":{"b":{}}}`, nil, 1, nil},
		{"longer list, each element checked", `{"a":[{"b":1}]}`, `{"a":[{"b":1},{"b":"x"}]}`, nil, 1, nil},
		{"empty list", `{"a":[1,2]}`, `{"a":[]}`, nil, 0, nil},
		{"null for array", `{"a":[]}`, `{"a":null}`, nil, 1, nil},
		{"extra", `{"a":1}`, `{"a":1,"z":{"y":1}}`, nil, 0, []string{"$.z"}},
		{"extra in element", `{"a":[{"b":1}]}`, `{"a":[{"b":1,"id":"x"}]}`, nil, 0, []string{"$.a[0].id"}},
		{"free map: other keys, same kinds", `{"m":{"pg":"healthy"}}`, `{"m":{"redis":"healthy","x":"down"}}`, []string{"$.m"}, 0, nil},
		{"free map: wrong kind", `{"m":{"pg":"healthy"}}`, `{"m":{"redis":true}}`, []string{"$.m"}, 1, nil},
		{"free map under any index", `{"e":[{"d":{"a":1}}]}`, `{"e":[{"d":{"b":2}},{"d":{"c":"x"}}]}`, []string{"$.e[*].d"}, 1, nil},
		{"free map: empty", `{"m":{"pg":"healthy"}}`, `{"m":{}}`, []string{"$.m"}, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			problems, extra, err := Shape([]byte(tc.ref), []byte(tc.ours), tc.free...)
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) != tc.wantProblems {
				t.Errorf("problems = %q, want %d", problems, tc.wantProblems)
			}
			if !slices.Equal(extra, tc.wantExtraKeys) {
				t.Errorf("extra = %q, want %q", extra, tc.wantExtraKeys)
			}
		})
	}
}
