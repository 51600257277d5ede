package fedtest

import (
	"encoding/json"
	"fmt"
	"github.com/empirefederation/neuron/internal/jsonkind"
	"maps"
	"regexp"
	"slices"
)

// Shape compares the JSON shape of ours with the reference example ref:
// every key of ref must be in ours with the same JSON kind (object, array,
// string, number, boolean, null), recursively. It returns what is missing
// or of another kind, and the paths ($.a.b[0].c) of keys ours has that ref
// has not.
//
// Array elements of ours are compared with ref's element at the same index,
// or its last one, so a list of any length is checked against the
// example's. Objects at the paths in free are maps whose keys are data
// ("$.dependencyStatus", "$.events[*].data"; [*] stands for any index):
// their values are compared with ref's first value instead of key by key.
func Shape(ref, ours []byte, free ...string) (problems, extra []string, err error) {
	var r, o any
	if err := json.Unmarshal(ref, &r); err != nil {
		return nil, nil, fmt.Errorf("reference: %w", err)
	}
	if err := json.Unmarshal(ours, &o); err != nil {
		return nil, nil, fmt.Errorf("ours: %w", err)
	}
	problems, extra = shape("$", r, o, free)
	slices.Sort(problems)
	slices.Sort(extra)
	return problems, extra, nil
}

func shape(path string, ref, ours any, free []string) (problems, extra []string) {
	if jsonkind.Of(ref) != jsonkind.Of(ours) {
		return []string{fmt.Sprintf("%s: reference has %s, ours %s", path, jsonkind.Of(ref), jsonkind.Of(ours))}, nil
	}
	add := func(p, e []string) { problems, extra = append(problems, p...), append(extra, e...) }
	switch r := ref.(type) {
	case map[string]any:
		o := ours.(map[string]any)
		if slices.Contains(free, path) || slices.Contains(free, anyIndex.ReplaceAllString(path, "[*]")) {
			keys := slices.Sorted(maps.Keys(r))
			for _, k := range slices.Sorted(maps.Keys(o)) {
				if len(keys) > 0 {
					add(shape(path+"."+k, r[keys[0]], o[k], free))
				}
			}
			return problems, extra
		}
		for k, rv := range r {
			if ov, ok := o[k]; ok {
				add(shape(path+"."+k, rv, ov, free))
			} else {
				problems = append(problems, path+"."+k+": missing")
			}
		}
		for k := range o {
			if _, ok := r[k]; !ok {
				extra = append(extra, path+"."+k)
			}
		}
	case []any:
		for i, ov := range ours.([]any) {
			if len(r) > 0 {
				add(shape(fmt.Sprintf("%s[%d]", path, i), r[min(i, len(r)-1)], ov, free))
			}
		}
	}
	return problems, extra
}

var anyIndex = regexp.MustCompile(`\[\d+\]`)
