package limits_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/limits"
	"github.com/empirefederation/neuron/sdk/abi"
)

// Every limit a manifest can set reaches the host's Limits under the same
// key, so that abi.Limits and Limits cannot drift: a field added to the
// manifest without FromManifest carrying it fails here.
func TestFromManifest_EveryField(t *testing.T) {
	typ := reflect.TypeFor[abi.Limits]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		var m abi.Limits
		if field := reflect.ValueOf(&m).Elem().Field(i); field.CanUint() {
			field.SetUint(7)
		} else {
			field.SetInt(7) // every other field is a signed integer or a Duration
		}
		got := limits.FromManifest(m).Map()
		v, ok := got[key]
		if !ok {
			t.Errorf("abi.Limits.%s (json %q) is not a key of Limits; keys are %v", f.Name, key, got)
			continue
		}
		if v != int64(7) && v != time.Duration(7) {
			t.Errorf("FromManifest(%s = 7)[%q] = %v, want 7", f.Name, key, v)
		}
		for k, other := range got {
			if k != key && other != int64(0) && other != time.Duration(0) {
				t.Errorf("FromManifest(%s = 7) also set %q to %v", f.Name, k, other)
			}
		}
	}
	if got := limits.FromManifest(abi.Limits{}); got != (limits.Limits{}) {
		t.Errorf("FromManifest of an empty manifest = %+v, want all inherited", got)
	}
}

func TestMap_RoundTrip(t *testing.T) {
	for _, l := range []limits.Limits{limits.Default(), limits.DefaultMax(), limits.HardMax(), {PoolMax: 3, CallTimeout: time.Second}} {
		got, err := limits.FromMap(l.Map())
		if err != nil || got != l {
			t.Errorf("FromMap(%+v.Map()) = %+v, %v", l, got, err)
		}
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		var back limits.Limits
		if err := json.Unmarshal(b, &back); err != nil || back != l {
			t.Errorf("JSON %s read back as %+v, %v", b, back, err)
		}
	}
}

func TestFromMap_Errors(t *testing.T) {
	for _, tc := range []struct {
		m    map[string]any
		want string
	}{
		{map[string]any{"poolmax": int64(3)}, `unknown key "poolmax"`},
		{map[string]any{"poolMax": "3"}, "poolMax: string is not a number or a duration"},
	} {
		if _, err := limits.FromMap(tc.m); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("FromMap(%v) = %v, want an error with %q", tc.m, err, tc.want)
		}
	}
}

// The defaults are values, not shared variables: changing what one caller
// got changes nothing for the next.
func TestDefault_NotShared(t *testing.T) {
	d := limits.Default()
	d.PoolMax = 1000
	if limits.Default().PoolMax == 1000 {
		t.Error("Default() returned a shared value")
	}
	for name, l := range map[string]limits.Limits{"Default": limits.Default(), "DefaultMax": limits.DefaultMax()} {
		if x := l.Beyond(limits.HardMax()); len(x) > 0 {
			t.Errorf("%s beyond HardMax: %+v", name, x)
		}
	}
	if err := limits.Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	if err := limits.DefaultMax().ValidateMax(); err != nil {
		t.Errorf("DefaultMax().ValidateMax() = %v", err)
	}
}
