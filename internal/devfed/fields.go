package devfed

import (
	"encoding/json"
	"fmt"
	"github.com/empirefederation/neuron/internal/jsonkind"
	"maps"
	"math"
	"slices"
	"strings"
)

// object is a decoded JSON object at path (the JSON path of its fields in
// errors, "" for the body). Its getters check the JSON kind and range of a
// field and return a 400 naming the field; unknown fields are left alone
// (clients may send more than the contract names).
type object struct {
	m    map[string]any
	path string
}

// field is the JSON path of key.
func (o object) field(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// has reports whether key is present and not null.
func (o object) has(key string) bool { return o.m[key] != nil }

// str returns string key ("" when absent or null); required makes absent
// or empty an error; max bounds its length in bytes (0: no bound).
func (o object) str(key string, required bool, max int) (string, error) {
	v, present := o.m[key]
	if !present || v == nil {
		if required {
			return "", badField(o.field(key), "is required (a string)")
		}
		return "", nil
	}
	s, isStr := v.(string)
	switch {
	case !isStr:
		return "", badField(o.field(key), "must be a string, got %s", jsonkind.A(v))
	case required && strings.TrimSpace(s) == "":
		return "", badField(o.field(key), "must not be empty")
	case max > 0 && len(s) > max:
		return "", badField(o.field(key), "is %d bytes long, at most %d allowed", len(s), max)
	}
	return s, nil
}

// num returns number key in [lo, hi], nil when absent or null.
func (o object) num(key string, lo, hi float64) (*float64, error) {
	v, present := o.m[key]
	if !present || v == nil {
		return nil, nil
	}
	f, err := number(v)
	if err != nil {
		return nil, badField(o.field(key), "%v", err)
	}
	if f < lo || f > hi {
		if math.IsInf(hi, 1) {
			return nil, badField(o.field(key), "must be at least %v, got %v", lo, f)
		}
		return nil, badField(o.field(key), "must be from %v to %v, got %v", lo, hi, f)
	}
	return &f, nil
}

// whole returns a whole number key in [lo, hi]; absent or null is nil.
func (o object) whole(key string, lo, hi float64) (*float64, error) {
	f, err := o.num(key, lo, hi)
	if err == nil && f != nil && *f != math.Trunc(*f) {
		return nil, badField(o.field(key), "must be a whole number, got %v", *f)
	}
	return f, err
}

// obj returns object key; found is false when absent or null.
func (o object) obj(key string) (object, bool, error) {
	v, present := o.m[key]
	if !present || v == nil {
		return object{}, false, nil
	}
	m, isObj := v.(map[string]any)
	if !isObj {
		return object{}, false, badField(o.field(key), "must be an object, got %s", jsonkind.A(v))
	}
	return object{m: m, path: o.field(key)}, true, nil
}

// list returns array key (nil when absent or null).
func (o object) list(key string) ([]any, error) {
	v, present := o.m[key]
	if !present || v == nil {
		return nil, nil
	}
	l, isList := v.([]any)
	if !isList {
		return nil, badField(o.field(key), "must be an array, got %s", jsonkind.A(v))
	}
	return l, nil
}

// objects returns array key whose elements must all be objects.
func (o object) objects(key string) ([]object, error) {
	l, err := o.list(key)
	if err != nil {
		return nil, err
	}
	out := make([]object, len(l))
	for i, v := range l {
		m, isObj := v.(map[string]any)
		path := fmt.Sprintf("%s[%d]", o.field(key), i)
		if !isObj {
			return nil, badField(path, "must be an object, got %s", jsonkind.A(v))
		}
		out[i] = object{m: m, path: path}
	}
	return out, nil
}

// strings returns array key whose elements must all be strings.
func (o object) strings(key string) ([]string, error) {
	l, err := o.list(key)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(l))
	for i, v := range l {
		s, isStr := v.(string)
		if !isStr {
			return nil, badField(fmt.Sprintf("%s[%d]", o.field(key), i), "must be a string, got %s", jsonkind.A(v))
		}
		out[i] = s
	}
	return out, nil
}

// values checks every value of object key (absent is fine) with check,
// which says what is wrong with one or returns nil.
func (o object) values(key string, check func(v any) error) error {
	sub, found, err := o.obj(key)
	if err != nil || !found {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(sub.m)) {
		if err := check(sub.m[k]); err != nil {
			return badField(sub.field(k), "%v", err)
		}
	}
	return nil
}

// isString and isNumber are checks for values.
func isString(v any) error {
	if _, isStr := v.(string); !isStr {
		return fmt.Errorf("must be a string, got %s", jsonkind.A(v))
	}
	return nil
}

func isNumber(v any) error {
	_, err := number(v)
	return err
}

// number converts a decoded JSON number to a finite float64.
func number(v any) (float64, error) {
	n, isNum := v.(json.Number)
	if !isNum {
		return 0, fmt.Errorf("must be a number, got %s", jsonkind.A(v))
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("must be a finite number, got %s", n)
	}
	return f, nil
}
