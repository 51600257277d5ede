// Package atomicfile replaces a file's content durably and all at once:
// a reader, or the next start after a crash, sees the old content or the
// new, never a mix. The spool, the last good config, the command ledger,
// the runtime's pins (internal/pins) and archive, load_plugin and the
// development federation's admin token all write this way. It knows
// nothing of what it writes and takes no locks: formats, and keeping two
// writers of one file apart, stay with its callers, and it must stay a leaf
// of the standard library so that any package that persists may use it.
package atomicfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
)

// TempSuffix ends the name of the temporary file Write creates (hidden:
// it starts with a dot). A crash can leave one behind; a reader of the
// directory skips or removes such files.
const TempSuffix = ".tmp"

// Replace makes path hold exactly data as Write does, unless it holds it
// already; a nil data removes path (if it is there). It keeps the files
// that go beside a module (its sidecar manifest, its signature) in step
// with the module written after them.
func Replace(path string, data []byte) error {
	cur, err := os.ReadFile(path)
	switch {
	case data == nil && errors.Is(err, os.ErrNotExist):
		return nil
	case data == nil:
		return os.Remove(path)
	case err == nil && bytes.Equal(cur, data):
		return nil
	}
	return Write(path, data)
}

// Write makes path hold exactly data: it writes a hidden temporary file in
// the same directory (created if missing), syncs it, renames it over path
// and syncs the directory, so the rename itself survives a power loss.
func Write(path string, data []byte) (err error) {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+name+"-*"+TempSuffix)
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}
