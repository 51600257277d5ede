package runtime

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/empirefederation/neuron/internal/atomicfile"
	"github.com/empirefederation/neuron/internal/modfile"
)

// The archive keeps the files of processor versions that were replaced or
// unloaded, so that Rollback can serve one again even after its file left
// the plugins directory: DataDir/archive/NAME/VERSION-DIGEST12.wasm (and
// .json when the version had a sidecar manifest). Each file's modification
// time is when its version was retired, which orders the archive; at most
// Options.KeepVersions files are kept per name, plus the file of a version
// pinned to serve. See docs/design.md, "Why archive retired versions, and
// what does Rollback pick?".

// archivedVersion is one file of the archive.
type archivedVersion struct {
	path     string
	version  string
	digest12 string
	at       time.Time // when the version was retired
}

// archiveDir is the archive of processor name.
func (rt *Runtime) archiveDir(name string) string {
	return filepath.Join(rt.opts.DataDir, "archive", name)
}

// archivePath is where version and digest of processor name are archived.
func (rt *Runtime) archivePath(name, version, digest string) string {
	return filepath.Join(rt.archiveDir(name), version+"-"+digest[:digestLabelLen]+".wasm")
}

// archive stores the file of p, a version leaving the snapshot, and marks
// it as the most recently retired of its name. A file already archived
// under the same name is not written again.
func (rt *Runtime) archive(p *processor) error {
	path := rt.archivePath(p.name(), p.version(), p.mod.Digest)
	if err := rt.writeArchived(path, p.file); err != nil {
		return fmt.Errorf("archive %s: %w", p.id(), err)
	}
	stamp := rt.nextArchiveStamp()
	if err := os.Chtimes(path, stamp, stamp); err != nil {
		return fmt.Errorf("archive %s: %w", p.id(), err)
	}
	return nil
}

// archiveIfMissing stores p's file unless the archive has it, without
// changing the archive's order: for a pinned version whose file left the
// directory while it serves, so that a restart can serve it again.
func (rt *Runtime) archiveIfMissing(p *processor) error {
	path := rt.archivePath(p.name(), p.version(), p.mod.Digest)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return rt.archive(p)
}

func (rt *Runtime) writeArchived(path string, f *modfile.File) error {
	if st, err := os.Stat(path); err != nil || st.Size() != int64(len(f.Raw)) {
		if err := atomicfile.Write(path, f.Raw); err != nil {
			return err
		}
	}
	side := modfile.SidecarPath(path)
	if f.Sidecar == nil {
		if err := os.Remove(side); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	return atomicfile.Write(side, f.Sidecar)
}

// nextArchiveStamp returns now, or just after the previous stamp when the
// clock has not moved past it, so that versions retired in one swap keep
// the order they were archived in.
func (rt *Runtime) nextArchiveStamp() time.Time {
	now := time.Now()
	if !now.After(rt.archiveStamp) {
		now = rt.archiveStamp.Add(time.Millisecond)
	}
	rt.archiveStamp = now
	return now
}

// archived lists the archive of processor name, most recently retired first.
func (rt *Runtime) archived(name string) ([]archivedVersion, error) {
	entries, err := os.ReadDir(rt.archiveDir(name))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []archivedVersion
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), ".wasm")
		i := strings.LastIndexByte(base, '-')
		if !ok || !e.Type().IsRegular() || strings.HasPrefix(base, ".") || i < 0 || len(base)-i-1 != digestLabelLen {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, archivedVersion{path: filepath.Join(rt.archiveDir(name), e.Name()),
			version: base[:i], digest12: base[i+1:], at: info.ModTime()})
	}
	slices.SortFunc(out, func(a, b archivedVersion) int {
		return cmp.Or(b.at.Compare(a.at), cmp.Compare(b.path, a.path))
	})
	return out, nil
}

// trimArchive deletes the oldest archived files of name beyond
// Options.KeepVersions. The file of the version name is pinned to is kept
// whatever its age: a restart needs it.
func (rt *Runtime) trimArchive(name string) error {
	list, err := rt.archived(name)
	if err != nil {
		return fmt.Errorf("archive of %s: %w", name, err)
	}
	pin, pinned := rt.state.Pinned(name)
	kept := 0
	var errs []error
	for _, a := range list {
		if pinned && a.version == pin.Version && strings.HasPrefix(pin.Digest, a.digest12) {
			continue
		}
		if kept < rt.opts.KeepVersions {
			kept++
			continue
		}
		for _, path := range []string{a.path, modfile.SidecarPath(a.path)} {
			if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				errs = append(errs, err)
			}
		}
		rt.log.Info("archived version deleted", "plugin", name, "version", a.version, "digest", a.digest12,
			"keep_versions", rt.opts.KeepVersions)
	}
	if len(errs) > 0 {
		return fmt.Errorf("trim archive of %s: %w", name, errs[0])
	}
	return nil
}
