package abi

import (
	"encoding/json"
	"fmt"
	"time"
)

// Manifest describes a processor: what it is, the endpoints it serves and
// what it needs from the host. A processor returns it as JSON from
// ExportManifest, or ships it as a sidecar file (NAME.wasm → NAME.json).
type Manifest struct {
	Name        string     `json:"name"`
	Version     string     `json:"version"` // semantic version, such as 1.2.0
	Description string     `json:"description,omitempty"`
	Endpoints   []Endpoint `json:"endpoints"`
	// Capabilities are the labels the neuron advertises to the federation,
	// such as "data_processing". They grant nothing.
	Capabilities []string `json:"capabilities,omitempty"`
	// Permissions ask the host for access a processor does not get by
	// default: PermFilesystem, PermEnvironment. The operator must allow each.
	Permissions []string `json:"permissions,omitempty"`
	// Headers names request headers forwarded to the processor in addition
	// to DefaultHeaders.
	Headers []string `json:"headers,omitempty"`
	// Limits override the host's defaults for this processor; the operator's
	// per-processor settings override these in turn.
	Limits Limits `json:"limits,omitzero"`
	// Settings are the keys the processor reads from its configuration,
	// each with its default: a string, a number or a boolean. The
	// processor's configuration holds the defaults under whatever the
	// operator and the federation set, and a federation may set each
	// declared key (plugins.NAME.KEY) with a value of the default's type.
	// A key is 1 to 64 letters, digits, '_' or '-', starting with a
	// letter; a processor declares at most MaxSettings.
	Settings map[string]any `json:"settings,omitempty"`
}

// MaxSettings bounds how many settings a manifest declares: enough for any
// processor's knobs, few enough that the manifest and the error that names
// them all stay readable.
const MaxSettings = 64

// Endpoint is one HTTP route a processor serves.
type Endpoint struct {
	Method      string `json:"method"`           // GET, POST, PUT, PATCH, DELETE
	Path        string `json:"path"`             // such as /users/{id}; gorilla/mux syntax
	Export      string `json:"export,omitempty"` // handler export; DefaultHandlerExport when empty
	Description string `json:"description,omitempty"`
	// Public endpoints take calls without a token when the neuron
	// authenticates its callers (a health probe of the processor, a
	// public catalogue); a token that is sent is still verified.
	Public bool `json:"public,omitempty"`
	// Scopes are what a caller's token must grant, every one, to call
	// the endpoint when the neuron authenticates its callers: at most
	// MaxScopes, each 1-64 printable characters without spaces.
	Scopes []string `json:"scopes,omitempty"`
}

// MaxScopes bounds the scopes one endpoint requires.
const MaxScopes = 16

// Permissions a manifest can ask for.
const (
	// PermFilesystem mounts the processor's own directory under the neuron's
	// data directory at /data inside the guest.
	PermFilesystem = "filesystem"
	// PermEnvironment passes the host's NEURON_PLUGIN_<NAME>_* variables to
	// the guest, with that prefix removed.
	PermEnvironment = "environment"
)

// DefaultHeaders are forwarded to every processor.
var DefaultHeaders = [...]string{"Content-Type", "Accept"}

// Limits bound what one processor may use. Zero means "the host's default".
type Limits struct {
	MemoryPages      uint32   `json:"memoryPages,omitempty"`      // per instance, 64 KiB each
	CallTimeout      Duration `json:"callTimeout,omitempty"`      // one handler call
	MaxBodyBytes     int64    `json:"maxBodyBytes,omitempty"`     // request body
	MaxResponseBytes int64    `json:"maxResponseBytes,omitempty"` // encoded response
	PoolMin          int      `json:"poolMin,omitempty"`          // instances kept ready
	PoolMax          int      `json:"poolMax,omitempty"`          // instances at most
	PoolQueue        int      `json:"poolQueue,omitempty"`        // callers waiting at most
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string, such as "1.5s".
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string such as "250ms".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"5s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
