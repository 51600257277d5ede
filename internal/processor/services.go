package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/empirefederation/neuron/internal/codecache"
	"github.com/empirefederation/neuron/internal/guest"
	"github.com/empirefederation/neuron/internal/guestmem"
	"github.com/empirefederation/neuron/internal/limits"
	"github.com/empirefederation/neuron/internal/signature"
	"github.com/empirefederation/neuron/sdk/abi"
)

// Services are what a processor version needs of the runtime that loads
// it, and nothing of the routing, the swaps or the request path: the
// operator's limits and permissions, the logger, the compilation cache and
// the kept and prepared modules, the guest-memory allocator, the metrics
// and the event sink, the run-time configuration, and the record of every
// NAME@VERSION's counters. A runtime makes one with NewServices; each
// version it opens holds a pointer to it.
type Services struct {
	// Limits are every processor's defaults, PluginLimits override them
	// by name, MaxLimits bound what a manifest may ask for: the runtime's
	// Options, completed and checked.
	Limits       limits.Limits
	PluginLimits map[string]limits.Limits
	MaxLimits    limits.Limits
	// AllowPermissions lists the permissions a manifest may be granted.
	AllowPermissions []string
	// Trust, when not nil, are the keys one of which must have signed a
	// file before Open compiles it (see modfile.File.Verify).
	Trust *signature.Verifier
	// DataDir holds the directories of processors granted the filesystem
	// permission (DataDir/plugins/NAME).
	DataDir string
	Log     *slog.Logger
	// Cache is the wazero compilation cache every version compiles with.
	Cache   wazero.CompilationCache
	Metrics *Metrics
	// Emit records an event a processor emitted (event_emit).
	Emit func(eventType, plugin, version string, data json.RawMessage)
	// Dyn is the run-time configuration in force.
	Dyn atomic.Pointer[Config]
	// Bg ends when the runtime closes; a code is kept for a later version
	// only while it has not ended.
	Bg context.Context

	// WazeroOpen counts the wazero runtimes that versions own (loaded or
	// draining), so that tests can prove a swap closes what it replaced;
	// Kept holds those of versions that closed cleanly, for a later
	// version of the same file to take over (see code.go).
	WazeroOpen atomic.Int64
	Kept       *codecache.Kept[codeKey, *code]
	// Prepared are the modules prepared for compiling, the runtime's own
	// or shared with other runtimes.
	Prepared *codecache.Prepared
	// Mem allocates and counts the guest memories of the runtime's
	// instances, and only of them: see guestmem.Allocator.
	Mem guestmem.Allocator

	// Records keeps each NAME@VERSION's counters across loads.
	Records Records
}

// NewServices returns services with an empty cache of kept codes and no
// record yet; the caller fills in the rest before opening a version.
func NewServices() *Services {
	return &Services{
		Kept:    codecache.NewKept[codeKey, *code](codecache.KeepCodes, codecache.KeepCodeBytes),
		Records: Records{byID: map[string]*Record{}},
	}
}

// Records are the Record of each NAME@VERSION the runtime opened: those
// open, and those retired (oldest first, at most MaxRetiredVersions).
// Taken at load, close and by the readers of Traffic, never per request.
type Records struct {
	mu      sync.Mutex
	byID    map[string]*Record
	retired []*Record
	epochs  uint64
}

// open returns the record of processor version plugin@version, creating
// it on first use or after it was forgotten, and counts one more
// processor of it open until close. It runs at load, never per request.
func (rs *Records) open(plugin, version string) *Record {
	id := plugin + "@" + version
	rs.mu.Lock()
	defer rs.mu.Unlock()
	v := rs.byID[id]
	if v == nil {
		rs.epochs++
		v = &Record{plugin: plugin, version: version, epoch: rs.epochs, custom: newCustomState()}
		rs.byID[id] = v
	}
	if v.open == 0 {
		rs.retired = slices.DeleteFunc(rs.retired, func(r *Record) bool { return r == v })
	}
	v.open++
	return v
}

// close records that a processor of v closed. With the last one, v
// retires: its row stays in Traffic, and the row retired longest ago past
// MaxRetiredVersions is forgotten. A row that counted nothing is
// forgotten at once: no reader can miss anything of it.
func (rs *Records) close(v *Record) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if v.open--; v.open > 0 {
		return
	}
	id := v.plugin + "@" + v.version
	if tr := v.Read(); tr.Requests == 0 && len(tr.Custom) == 0 {
		delete(rs.byID, id)
		return
	}
	rs.retired = append(rs.retired, v)
	if over := len(rs.retired) - MaxRetiredVersions; over > 0 {
		for _, old := range rs.retired[:over] {
			delete(rs.byID, old.plugin+"@"+old.version)
		}
		rs.retired = slices.Delete(rs.retired, 0, over)
	}
}

// All returns every record kept, open or retired, by NAME@VERSION.
func (rs *Records) All() []*Record {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	ids := slices.Sorted(maps.Keys(rs.byID))
	out := make([]*Record, len(ids))
	for i, id := range ids {
		out[i] = rs.byID[id]
	}
	return out
}

// StartTimeout is the start timeout of processor name, or, for a module
// whose name is not known yet (""; its manifest is an export, read by
// running it), the longest the operator gives any processor.
func (s *Services) StartTimeout(name string) time.Duration {
	if name != "" {
		return s.Limits.Override(s.PluginLimits[name]).StartTimeout
	}
	longest := s.Limits.StartTimeout
	for _, l := range s.PluginLimits {
		longest = max(longest, l.StartTimeout)
	}
	return longest
}

// grant returns the instance configuration for a manifest, with the
// permissions it asks for if the operator allows them.
func (s *Services) grant(m abi.Manifest) (wazero.ModuleConfig, error) {
	cfg := guest.ModuleConfig()
	for _, perm := range m.Permissions {
		if !slices.Contains(s.AllowPermissions, perm) {
			return nil, fmt.Errorf("permission %q is not allowed by the operator; allow it with NEURON_ALLOW_PERMISSIONS=%s or remove it from the manifest", perm, perm)
		}
		switch perm {
		case abi.PermFilesystem:
			dir := filepath.Join(s.DataDir, "plugins", m.Name)
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("permission filesystem: %w", err)
			}
			cfg = cfg.WithFSConfig(wazero.NewFSConfig().WithDirMount(dir, "/data"))
		case abi.PermEnvironment:
			prefix := "NEURON_PLUGIN_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(m.Name)) + "_"
			for _, kv := range os.Environ() {
				if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, prefix) {
					cfg = cfg.WithEnv(strings.TrimPrefix(k, prefix), v)
				}
			}
		}
	}
	return cfg, nil
}

// beyondManifest refuses a manifest asking for more than the operator
// allows, naming each limit, its maximum and the key that raises it.
func beyondManifest(asked, maximums limits.Limits) error {
	var errs []error
	for _, x := range asked.Beyond(maximums) {
		errs = append(errs, fmt.Errorf("the manifest asks for %s %s, above the operator's maximum of %s: lower it in the manifest, or the operator raises maxLimits.%s",
			x.Key, x.Value, x.Max, x.Key))
	}
	return errors.Join(errs...)
}
