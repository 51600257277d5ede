package federation

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

// shapeDiff compares the JSON shape of ours with ref: every key of ref must
// be in ours with the same JSON kind, recursively (array elements pairwise).
// It returns what is missing or of another kind, and the paths of keys ours
// has that ref has not.
func shapeDiff(path string, ref, ours any) (problems, extra []string) {
	if jsonKind(ref) != jsonKind(ours) {
		return []string{fmt.Sprintf("%s: reference has %s, ours %s", path, jsonKind(ref), jsonKind(ours))}, nil
	}
	switch r := ref.(type) {
	case map[string]any:
		o := ours.(map[string]any)
		for k, rv := range r {
			ov, ok := o[k]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			p, e := shapeDiff(path+"."+k, rv, ov)
			problems, extra = append(problems, p...), append(extra, e...)
		}
		for k := range o {
			if _, ok := r[k]; !ok {
				extra = append(extra, path+"."+k)
			}
		}
	case []any:
		o := ours.([]any)
		if len(r) != len(o) {
			return []string{fmt.Sprintf("%s: reference has %d elements, ours %d", path, len(r), len(o))}, nil
		}
		for i := range r {
			p, e := shapeDiff(fmt.Sprintf("%s[%d]", path, i), r[i], o[i])
			problems, extra = append(problems, p...), append(extra, e...)
		}
	}
	slices.Sort(problems)
	slices.Sort(extra)
	return problems, extra
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// assertSameShape fails t unless ours has ref's shape and exactly the extra
// keys allowed.
func assertSameShape(t *testing.T, ref, ours []byte, allowedExtra []string) {
	t.Helper()
	var r, o any
	if err := json.Unmarshal(ref, &r); err != nil {
		t.Fatalf("reference: %v", err)
	}
	if err := json.Unmarshal(ours, &o); err != nil {
		t.Fatalf("ours: %v", err)
	}
	problems, extra := shapeDiff("$", r, o)
	for _, p := range problems {
		t.Errorf("shape: %s", p)
	}
	slices.Sort(allowedExtra)
	if !slices.Equal(extra, allowedExtra) {
		t.Errorf("extra keys in our encoding: got %q, want %q\nours: %s", extra, allowedExtra, ours)
	}
}

func TestShapeDiff(t *testing.T) {
	tests := []struct {
		name          string
		ref, ours     string
		wantProblems  int
		wantExtraKeys []string
	}{
		{"same", `{"a":1,"b":{"c":"x"},"d":[{"e":true}]}`, `{"a":2.5,"b":{"c":"y"},"d":[{"e":false}]}`, 0, nil},
		{"missing key", `{"a":1,"b":2}`, `{"a":1}`, 1, nil},
		{"number as string", `{"a":1}`, `{"a":"1"}`, 1, nil},
		{"nested kind", `{"a":{"b":[1]}}`, `{"a":{"b":{}}}`, 1, nil},
		{"array length", `{"a":[1,2]}`, `{"a":[1]}`, 1, nil},
		{"null for array", `{"a":[]}`, `{"a":null}`, 1, nil},
		{"extra", `{"a":1}`, `{"a":1,"z":{"y":1}}`, 0, []string{"$.z"}},
		{"extra in element", `{"a":[{"b":1}]}`, `{"a":[{"b":1,"id":"x"}]}`, 0, []string{"$.a[0].id"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r, o any
			_ = json.Unmarshal([]byte(tc.ref), &r)
			_ = json.Unmarshal([]byte(tc.ours), &o)
			problems, extra := shapeDiff("$", r, o)
			if len(problems) != tc.wantProblems {
				t.Errorf("problems = %q, want %d", problems, tc.wantProblems)
			}
			if !slices.Equal(extra, tc.wantExtraKeys) {
				t.Errorf("extra = %q, want %q", extra, tc.wantExtraKeys)
			}
		})
	}
}
