package processor

import (
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/limits"
)

// The probe of a module runs its _initialize before its manifest is known:
// a sidecar's name gives it that processor's start timeout, an export
// manifest the longest the operator gives any processor (so that raising
// one processor's start timeout lets it load at all).
func TestServices_StartTimeout(t *testing.T) {
	svc := &Services{
		Limits:       limits.Default(),
		PluginLimits: map[string]limits.Limits{"slow": {StartTimeout: 40 * time.Second}, "other": {PoolMax: 2}},
	}
	for name, want := range map[string]time.Duration{"slow": 40 * time.Second, "other": 5 * time.Second, "unknown": 5 * time.Second, "": 40 * time.Second} {
		if got := svc.StartTimeout(name); got != want {
			t.Errorf("StartTimeout(%q) = %v, want %v", name, got, want)
		}
	}
}
