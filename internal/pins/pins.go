// Package pins owns what operators asked of a runtime that must outlive a
// restart: the processors pinned to a version (Rollback) and those
// IsUnloaded (Unload), kept in DataDir/runtime/pins.json and written whole,
// atomically, after each change. It only records and persists; it must
// not decide what serves: the runtime's swap path (runtime/swap.go,
// versions.go, sync.go) reads the pins and unloads and acts on them, under
// the runtime's lock.
package pins

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/empirefederation/neuron/internal/atomicfile"
)

// File is where pins and unloads are kept, under DataDir, so that a
// restart serves what the operator last chose.
const File = "runtime/pins.json"

// State is what operators asked of the runtime that must outlive a
// restart: which processors are pinned to a version (Rollback) and which
// are unloaded (Unload). It is changed only under the runtime's lock
// (Runtime.mu) and written whole, atomically, after each change (Save).
type State struct {
	path string
	// Pins maps a processor name to the version it serves whatever else
	// the directory holds.
	Pins map[string]Pin `json:"pins,omitempty"`
	// Unloaded maps a processor name to the files it had when it was
	// unloaded.
	Unloaded map[string]Unload `json:"unloaded,omitempty"`
}

// Pin is one pin: the version and module digest that serve, and the
// digests of the processor's files in the directory when it was pinned.
// A file of the processor with any other digest is new, and releases the
// pin: an operator who drops a new build wants it served.
type Pin struct {
	Version string    `json:"version"`
	Digest  string    `json:"digest"`
	Known   []string  `json:"known"`
	Since   time.Time `json:"since"`
}

// Unload is one unload: the digests of the processor's files when it
// was unloaded. Those files are not opened again (not even after a
// restart) until Reload; a file with another digest clears the unload.
type Unload struct {
	Known []string  `json:"known"`
	Since time.Time `json:"since"`
}

// Load reads the state kept under dataDir. A missing file is an empty
// state. A file that does not decode is set aside as pins.json.corrupt and
// the runtime starts without pins or unloads, with an error in the log: a
// neuron that cannot start serves nobody, while one that serves the
// highest versions can be rolled back again.
func Load(dataDir string, log *slog.Logger) (*State, error) {
	st := &State{path: filepath.Join(dataDir, File)}
	b, err := os.ReadFile(st.path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pins and unloads: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		log.Error("pins and unloads file is corrupt; starting without pins or unloads", "file", st.path, "err", err,
			"kept_as", st.path+".corrupt")
		_ = os.Rename(st.path, st.path+".corrupt")
		return &State{path: st.path}, nil
	}
	return st, nil
}

// Save writes the state: to a temporary file, synced, then renamed over the
// old one, so that a crash leaves the old or the new state, never a torn one.
func (st *State) Save() error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(st.path, b); err != nil {
		return fmt.Errorf("save pins and unloads: %w", err)
	}
	return nil
}

// Pinned returns the pin of name, if any.
func (st *State) Pinned(name string) (Pin, bool) {
	p, ok := st.Pins[name]
	return p, ok
}

// SetPin pins name; a nil rec removes the pin.
func (st *State) SetPin(name string, rec *Pin) {
	if rec == nil {
		delete(st.Pins, name)
		return
	}
	if st.Pins == nil {
		st.Pins = map[string]Pin{}
	}
	st.Pins[name] = *rec
}

// IsUnloaded reports whether name is unloaded.
func (st *State) IsUnloaded(name string) bool {
	_, ok := st.Unloaded[name]
	return ok
}

// UnloadedDigest returns the processor whose unload covers a file with
// digest, or "".
func (st *State) UnloadedDigest(digest string) string {
	for _, name := range slices.Sorted(maps.Keys(st.Unloaded)) {
		if slices.Contains(st.Unloaded[name].Known, digest) {
			return name
		}
	}
	return ""
}

// SetUnloaded marks name unloaded with the digests of its files; a nil
// known clears the unload.
func (st *State) SetUnloaded(name string, known []string) {
	if known == nil {
		delete(st.Unloaded, name)
		return
	}
	if st.Unloaded == nil {
		st.Unloaded = map[string]Unload{}
	}
	st.Unloaded[name] = Unload{Known: known, Since: time.Now().UTC()}
}

// Clone returns a deep copy, so that a command can put the state back when
// it fails.
func (st *State) Clone() *State {
	c := &State{path: st.path}
	for name, p := range st.Pins {
		p.Known = slices.Clone(p.Known)
		c.SetPin(name, &p)
	}
	for name, u := range st.Unloaded {
		c.SetUnloaded(name, slices.Clone(u.Known))
		c.Unloaded[name] = Unload{Known: c.Unloaded[name].Known, Since: u.Since}
	}
	return c
}
