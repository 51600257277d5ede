package pins

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestLoadSave: a data directory without the file is an empty state; what
// Save writes, Load reads back; a file that does not decode is set aside
// as pins.json.corrupt, with an error in the log, and the state starts
// empty rather than failing the runtime.
func TestLoadSave(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	st, err := Load(dir, log)
	if err != nil || len(st.Pins) != 0 || len(st.Unloaded) != 0 {
		t.Fatalf("Load of an empty directory = %+v, %v; want an empty state", st, err)
	}
	since := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	st.SetPin("hello", &Pin{Version: "1.0.0", Digest: "d1", Known: []string{"d1", "d2"}, Since: since})
	st.SetUnloaded("data", []string{"d3"})
	if err := os.MkdirAll(filepath.Join(dir, "runtime"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(); err != nil {
		t.Fatalf("Save: %v", err)
	}
	back, err := Load(dir, log)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(back.Pins, st.Pins) || !reflect.DeepEqual(back.Unloaded, st.Unloaded) {
		t.Errorf("Load after Save = %+v / %+v, want %+v / %+v", back.Pins, back.Unloaded, st.Pins, st.Unloaded)
	}
	if p, ok := back.Pinned("hello"); !ok || p.Version != "1.0.0" {
		t.Errorf("Pinned(hello) = %+v, %v", p, ok)
	}
	if !back.IsUnloaded("data") || back.UnloadedDigest("d3") != "data" || back.UnloadedDigest("d1") != "" {
		t.Errorf("unload of data not read back: %+v", back.Unloaded)
	}

	path := filepath.Join(dir, File)
	if err := os.WriteFile(path, []byte("{not json"), 0o640); err != nil {
		t.Fatal(err)
	}
	st, err = Load(dir, log)
	if err != nil || len(st.Pins) != 0 || len(st.Unloaded) != 0 {
		t.Fatalf("Load of a corrupt file = %+v, %v; want an empty state", st, err)
	}
	if b, err := os.ReadFile(path + ".corrupt"); err != nil || string(b) != "{not json" {
		t.Errorf("the corrupt file was not set aside: %q, %v", b, err)
	}
	if !strings.Contains(logs.String(), "pins and unloads file is corrupt") {
		t.Errorf("no error logged for the corrupt file: %s", logs.String())
	}
}

// TestClone: a clone shares nothing with its original, so that a command
// that fails can put the state back.
func TestClone(t *testing.T) {
	st := &State{path: "x"}
	st.SetPin("hello", &Pin{Version: "1.0.0", Known: []string{"d1"}})
	st.SetUnloaded("data", []string{"d3"})
	c := st.Clone()
	c.Pins["hello"].Known[0] = "changed"
	c.Unloaded["data"].Known[0] = "changed"
	c.SetPin("hello", nil)
	c.SetUnloaded("data", nil)
	if p, ok := st.Pinned("hello"); !ok || p.Known[0] != "d1" {
		t.Errorf("the original's pin changed with its clone: %+v, %v", p, ok)
	}
	if !st.IsUnloaded("data") || st.Unloaded["data"].Known[0] != "d3" {
		t.Errorf("the original's unload changed with its clone: %+v", st.Unloaded)
	}
}
