package runtime

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

// stateFile is where pins and unloads are kept, under DataDir, so that a
// restart serves what the operator last chose.
const stateFile = "runtime/pins.json"

// persistedState is what operators asked of the runtime that must outlive
// a restart: which processors are pinned to a version (Rollback) and which
// are unloaded (Unload). It is changed only under Runtime.mu and written
// whole, atomically, after each change.
type persistedState struct {
	path string
	// Pins maps a processor name to the version it serves whatever else
	// the directory holds.
	Pins map[string]pinRecord `json:"pins,omitempty"`
	// Unloaded maps a processor name to the files it had when it was
	// unloaded.
	Unloaded map[string]unloadRecord `json:"unloaded,omitempty"`
}

// pinRecord is one pin: the version and module digest that serve, and the
// digests of the processor's files in the directory when it was pinned.
// A file of the processor with any other digest is new, and releases the
// pin: an operator who drops a new build wants it served.
type pinRecord struct {
	Version string    `json:"version"`
	Digest  string    `json:"digest"`
	Known   []string  `json:"known"`
	Since   time.Time `json:"since"`
}

// unloadRecord is one unload: the digests of the processor's files when it
// was unloaded. Those files are not opened again (not even after a
// restart) until Reload; a file with another digest clears the unload.
type unloadRecord struct {
	Known []string  `json:"known"`
	Since time.Time `json:"since"`
}

// loadState reads the state kept under dataDir. A missing file is an empty
// state. A file that does not decode is set aside as pins.json.corrupt and
// the runtime starts without pins or unloads, with an error in the log: a
// neuron that cannot start serves nobody, while one that serves the
// highest versions can be rolled back again.
func loadState(dataDir string, log *slog.Logger) (*persistedState, error) {
	st := &persistedState{path: filepath.Join(dataDir, stateFile)}
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
		return &persistedState{path: st.path}, nil
	}
	return st, nil
}

// save writes the state: to a temporary file, synced, then renamed over the
// old one, so that a crash leaves the old or the new state, never a torn one.
func (st *persistedState) save() error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(st.path, b); err != nil {
		return fmt.Errorf("save pins and unloads: %w", err)
	}
	return nil
}

// pin returns the pin of name, if any.
func (st *persistedState) pin(name string) (pinRecord, bool) {
	p, ok := st.Pins[name]
	return p, ok
}

// setPin pins name; a nil rec removes the pin.
func (st *persistedState) setPin(name string, rec *pinRecord) {
	if rec == nil {
		delete(st.Pins, name)
		return
	}
	if st.Pins == nil {
		st.Pins = map[string]pinRecord{}
	}
	st.Pins[name] = *rec
}

// unloaded reports whether name is unloaded.
func (st *persistedState) unloaded(name string) bool {
	_, ok := st.Unloaded[name]
	return ok
}

// unloadedDigest returns the processor whose unload covers a file with
// digest, or "".
func (st *persistedState) unloadedDigest(digest string) string {
	for _, name := range slices.Sorted(maps.Keys(st.Unloaded)) {
		if slices.Contains(st.Unloaded[name].Known, digest) {
			return name
		}
	}
	return ""
}

// setUnloaded marks name unloaded with the digests of its files; a nil
// known clears the unload.
func (st *persistedState) setUnloaded(name string, known []string) {
	if known == nil {
		delete(st.Unloaded, name)
		return
	}
	if st.Unloaded == nil {
		st.Unloaded = map[string]unloadRecord{}
	}
	st.Unloaded[name] = unloadRecord{Known: known, Since: time.Now().UTC()}
}

// clone returns a deep copy, so that a command can put the state back when
// it fails.
func (st *persistedState) clone() *persistedState {
	c := &persistedState{path: st.path}
	for name, p := range st.Pins {
		p.Known = slices.Clone(p.Known)
		c.setPin(name, &p)
	}
	for name, u := range st.Unloaded {
		c.setUnloaded(name, slices.Clone(u.Known))
		c.Unloaded[name] = unloadRecord{Known: c.Unloaded[name].Known, Since: u.Since}
	}
	return c
}
