// Package archive keeps the files of processor versions that were replaced
// or unloaded, so that Rollback can serve one again even after its file
// left the plugins directory: DataDir/archive/NAME/VERSION-DIGEST12.wasm
// (and .json when the version had a sidecar manifest, .wasm.sig when it
// had a signature file, so that a neuron that trusts keys checks an
// archived version as it checked it in the directory). Each file's
// modification time is when its version was retired, which orders the
// archive; Trim keeps at most a number of files per name, plus the file of
// a version pinned to serve. See docs/design.md, "Why archive retired
// versions, and what does Rollback pick?".
//
// It owns the files under DataDir/archive and nothing else: it must not
// touch the plugins directory, the pins (internal/pins) or what serves.
package archive

import (
	"cmp"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/empirefederation/neuron/internal/atomicfile"
	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/pins"
	"github.com/empirefederation/neuron/internal/signature"
)

// Archive is the archive of one data directory. Its methods are safe for
// concurrent use.
type Archive struct {
	dir  string // DataDir/archive
	keep int
	log  *slog.Logger

	// mu guards stamp, the modification time given to the last archived
	// file; each new one gets a later one, so that the archive's order is
	// the order versions were retired in.
	mu    sync.Mutex
	stamp time.Time
}

// New returns the archive under dataDir/archive, which Trim cuts to keep
// files per name.
func New(dataDir string, keep int, log *slog.Logger) *Archive {
	return &Archive{dir: filepath.Join(dataDir, "archive"), keep: keep, log: log}
}

// Entry is one file of the archive.
type Entry struct {
	Path     string
	Version  string
	Digest12 string
	At       time.Time // when the version was retired
}

// Dir is the archive of processor name.
func (a *Archive) Dir(name string) string {
	return filepath.Join(a.dir, name)
}

// Path is where version and digest (its sha256, in hex) of processor name
// are archived.
func (a *Archive) Path(name, version, digest string) string {
	return filepath.Join(a.Dir(name), version+"-"+digest[:modfile.DigestLabelLen]+".wasm")
}

// Store stores f, the file of version and digest of processor name, a
// version leaving service, and marks it as the most recently retired of
// its name. A file already archived under the same name is not written
// again.
func (a *Archive) Store(name, version, digest string, f *modfile.File) error {
	path := a.Path(name, version, digest)
	if err := writeArchived(path, f); err != nil {
		return fmt.Errorf("archive %s@%s: %w", name, version, err)
	}
	stamp := a.nextStamp()
	if err := os.Chtimes(path, stamp, stamp); err != nil {
		return fmt.Errorf("archive %s@%s: %w", name, version, err)
	}
	return nil
}

// StoreIfMissing is Store unless the archive has the file, without
// changing the archive's order: for a pinned version whose file left the
// directory while it serves, so that a restart can serve it again.
func (a *Archive) StoreIfMissing(name, version, digest string, f *modfile.File) error {
	if _, err := os.Stat(a.Path(name, version, digest)); err == nil {
		return nil
	}
	return a.Store(name, version, digest, f)
}

func writeArchived(path string, f *modfile.File) error {
	if st, err := os.Stat(path); err != nil || st.Size() != int64(len(f.Raw)) {
		if err := atomicfile.Write(path, f.Raw); err != nil {
			return err
		}
	}
	if err := writeCompanion(modfile.SidecarPath(path), f.Sidecar); err != nil {
		return err
	}
	return writeCompanion(signature.Path(path), f.Sig)
}

// writeCompanion writes b, a file that goes with an archived module, to
// path, or removes path when b is nil.
func writeCompanion(path string, b []byte) error {
	if b == nil {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	return atomicfile.Write(path, b)
}

// nextStamp returns now, or just after the previous stamp when the clock
// has not moved past it, so that versions retired in one swap keep the
// order they were archived in.
func (a *Archive) nextStamp() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if !now.After(a.stamp) {
		now = a.stamp.Add(time.Millisecond)
	}
	a.stamp = now
	return now
}

// List lists the archive of processor name, most recently retired first.
func (a *Archive) List(name string) ([]Entry, error) {
	entries, err := os.ReadDir(a.Dir(name))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), ".wasm")
		i := strings.LastIndexByte(base, '-')
		if !ok || !e.Type().IsRegular() || strings.HasPrefix(base, ".") || i < 0 || len(base)-i-1 != modfile.DigestLabelLen {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, Entry{Path: filepath.Join(a.Dir(name), e.Name()),
			Version: base[:i], Digest12: base[i+1:], At: info.ModTime()})
	}
	slices.SortFunc(out, func(x, y Entry) int {
		return cmp.Or(y.At.Compare(x.At), cmp.Compare(y.Path, x.Path))
	})
	return out, nil
}

// Trim deletes the oldest archived files of name beyond the number New
// was given. The file of pin, the version name is pinned to when pinned is
// true, is kept whatever its age: a restart needs it.
func (a *Archive) Trim(name string, pin pins.Pin, pinned bool) error {
	list, err := a.List(name)
	if err != nil {
		return fmt.Errorf("archive of %s: %w", name, err)
	}
	kept := 0
	var errs []error
	for _, e := range list {
		if pinned && e.Version == pin.Version && strings.HasPrefix(pin.Digest, e.Digest12) {
			continue
		}
		if kept < a.keep {
			kept++
			continue
		}
		for _, path := range []string{e.Path, modfile.SidecarPath(e.Path), signature.Path(e.Path)} {
			if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				errs = append(errs, err)
			}
		}
		a.log.Info("archived version deleted", "plugin", name, "version", e.Version, "digest", e.Digest12,
			"keep_versions", a.keep)
	}
	if len(errs) > 0 {
		return fmt.Errorf("trim archive of %s: %w", name, errs[0])
	}
	return nil
}
