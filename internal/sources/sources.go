// Package sources keeps the processors a neuron pulled from OCI registries
// (internal/oci) in a directory of its own, DATA/sources, which the runtime
// scans beside the plugins directory (runtime.Options.SourcesDir): a
// processor pulled goes through the same swap path as a dropped file, and
// what was pulled once is served at the next start even when the registry
// is down.
//
// Each reference has one stem, stable for the reference (see Stem), so
// that a tag that moved replaces the files it pulled before:
//
//	STEM.wasm       the module
//	STEM.json       its sidecar manifest, when the processor has one
//	STEM.wasm.sig   its signature file (internal/signature), when signed
//	sources.json    ref → artifact digest, module sha256, stem, origin
//
// Every file is written atomically (internal/atomicfile), the module after
// its sidecar and signature and sources.json last, and nothing is written
// before the pulled processor passed every check: a digest in the
// reference (internal/oci), the module sha256 a caller gave, the trusted
// keys (a signature.Verifier). A registry that is down or answers garbage
// leaves the stored files as they were.
package sources

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/empirefederation/neuron/internal/atomicfile"
	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/oci"
	"github.com/empirefederation/neuron/internal/ociref"
	"github.com/empirefederation/neuron/internal/signature"
)

// IndexFile is the store's record of what it holds, in its directory.
const IndexFile = "sources.json"

// Origin says why a reference is in the store.
type Origin string

// The origins of a reference. A declared one leaves the store when the
// configuration no longer declares it (Prune); one a command pulled stays
// until removed.
const (
	Declared Origin = "declared" // listed in pluginSources
	Command  Origin = "command"  // pulled by load_plugin
)

// Event types the store reports through Options.Events.
const (
	// EventPulled: a reference's processor was pulled and stored (data:
	// ref, digest, sha256, origin).
	EventPulled = "plugin_source_pulled"
	// EventFailed: a reference could not be resolved, pulled or accepted
	// (data: ref, reason, and digest when one is stored). Repeats of the
	// same reason for the same reference are not reported again until it
	// succeeds.
	EventFailed = "plugin_source_failed"
)

// Entry is one reference the store holds.
type Entry struct {
	// Ref is the reference as given (ociref form).
	Ref string `json:"ref"`
	// Digest is the artifact manifest's digest, "sha256:HEX": what the
	// reference named when it was pulled.
	Digest string `json:"digest"`
	// Module is the module's hex sha256, as the runtime names it.
	Module string `json:"sha256"`
	// Stem names the entry's files (Stem(Ref)).
	Stem   string    `json:"stem"`
	Origin Origin    `json:"origin"`
	Pulled time.Time `json:"pulled"`
}

// Registry is what the store needs of an OCI client (*oci.Client).
type Registry interface {
	Resolve(ctx context.Context, ref string) (digest string, err error)
	Pull(ctx context.Context, ref string) (*oci.Pulled, error)
}

// Options configure a Store.
type Options struct {
	// Dir is the store's directory (the agent's DATA/sources), created if
	// missing.
	Dir string
	// Registry resolves and pulls.
	Registry Registry
	// Verifier, when not nil, must accept a processor's signature before
	// it is stored, so that a pull refused says why at once (the runtime
	// checks again before it compiles).
	Verifier *signature.Verifier
	// Log receives what was pulled and what failed. Default slog.Default().
	Log *slog.Logger
	// Events receives EventPulled and EventFailed with their data; it must
	// not block. Default: none.
	Events func(typ string, data map[string]string)
}

// Store is a directory of pulled processors. Its methods are safe for
// concurrent use; fetches run one at a time.
type Store struct {
	opts    Options
	fetchMu sync.Mutex // one fetch at a time: each rewrites the index
	mu      sync.Mutex // guards entries and failed; never held over the network
	entries map[string]Entry
	failed  map[string]string // ref → the reason last reported
}

// Open opens the store in opts.Dir. It puts the directory back in step
// with its index, as a crash may have left it: files of no entry (pulled,
// but not yet recorded) are removed, and an entry whose module is not the
// one recorded forgets its digest, so that the next fetch pulls again.
func Open(opts Options) (*Store, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("sources directory: %w", err)
	}
	s := &Store{opts: opts, entries: map[string]Entry{}, failed: map[string]string{}}
	b, err := os.ReadFile(s.path(IndexFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("sources index: %w", err)
	default:
		var list []Entry
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, fmt.Errorf("sources index %s: %w (remove it: the declared sources are pulled again)", s.path(IndexFile), err)
		}
		for _, e := range list {
			s.entries[e.Ref] = e
		}
	}
	if err := s.reconcile(); err != nil {
		return nil, err
	}
	return s, nil
}

// reconcile removes the files no entry owns and forgets the digest of an
// entry whose module is not the one recorded.
func (s *Store) reconcile() error {
	stems := map[string]bool{}
	changed := false
	for ref, e := range s.entries {
		b, err := os.ReadFile(s.module(e))
		switch {
		case err != nil:
			s.opts.Log.Warn("pulled processor missing from the sources directory; it is pulled again", "ref", ref, "err", err)
			delete(s.entries, ref)
			changed = true
			continue
		case modfile.SHA256Hex(b) != e.Module:
			s.opts.Log.Warn("pulled processor is not the one recorded (a pull was interrupted); it is pulled again at the next fetch", "ref", ref)
			e.Digest, e.Module = "", modfile.SHA256Hex(b)
			s.entries[ref] = e
			changed = true
		}
		stems[e.Stem] = true
	}
	dirents, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return fmt.Errorf("sources directory: %w", err)
	}
	for _, d := range dirents {
		name := d.Name()
		stem, _, _ := strings.Cut(name, ".")
		if name == IndexFile || !d.Type().IsRegular() || stems[stem] && !strings.HasPrefix(name, ".") {
			continue
		}
		if err := os.Remove(s.path(name)); err != nil {
			return fmt.Errorf("sources directory: %w", err)
		}
	}
	if changed {
		return s.writeIndex(s.entries)
	}
	return nil
}

// Stem is the name of the files of ref: the reference made a file name
// (lowercase letters, digits, '_' and '-'; at most 64 characters)
// and 12 hex digits of its sha256, so that two references never share
// files and one reference always has the same.
func Stem(ref string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(ref) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 64 {
			break
		}
	}
	sum := sha256.Sum256([]byte(ref))
	return b.String() + "-" + hex.EncodeToString(sum[:6])
}

// Want is what a fetch asks beyond the reference.
type Want struct {
	// SHA256, when not "", is the module's hex sha256: a processor with
	// another module is refused.
	SHA256 string
	// Origin is recorded with the entry; Declared wins over Command.
	Origin Origin
}

// Result is a fetch's outcome.
type Result struct {
	Entry
	// Changed says files were written: a sync makes the runtime serve
	// them. False when the reference still names what the store holds.
	Changed bool
}

// Fetch makes the store hold what ref names now. It resolves ref (a
// pinned one needs no resolving); when the store already holds that
// digest for ref (and its module file is there), nothing is downloaded. Otherwise the artifact is pulled
// by digest (so that a tag moving meanwhile changes nothing), checked
// (processor media types and a digest in ref, by internal/oci; want's
// module sha256; the trusted keys) and written. On any failure the stored
// files stay as they were and the error says why.
func (s *Store) Fetch(ctx context.Context, ref string, want Want) (Result, error) {
	res, err := s.fetch(ctx, ref, want)
	if err != nil {
		s.report(ref, err)
		return res, err
	}
	s.mu.Lock()
	delete(s.failed, ref)
	s.mu.Unlock()
	if res.Changed {
		s.opts.Log.Info("processor pulled", "ref", ref, "digest", res.Digest, "sha256", res.Module[:modfile.DigestLabelLen], "origin", res.Origin)
		s.event(EventPulled, map[string]string{"ref": ref, "digest": res.Digest, "sha256": res.Module, "origin": string(res.Origin)})
	}
	return res, nil
}

func (s *Store) fetch(ctx context.Context, ref string, want Want) (Result, error) {
	r, err := ociref.Parse(ref)
	if err != nil {
		return Result{}, err
	}
	ref = r.String()
	digest := r.Digest
	if !r.Pinned() {
		if digest, err = s.opts.Registry.Resolve(ctx, ref); err != nil {
			return Result{}, fmt.Errorf("%w; nothing was changed", err) // it names ref
		}
		if err := ociref.CheckDigest(digest); err != nil {
			return Result{}, fmt.Errorf("resolve %s: the registry answered digest %q: %w", ref, digest, err)
		}
	}
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	s.mu.Lock()
	cur, ok := s.entries[ref]
	s.mu.Unlock()
	origin := cmp.Or(want.Origin, Command)
	if cur.Origin == Declared {
		origin = Declared
	}
	if _, err := os.Stat(s.module(cur)); ok && cur.Digest == digest && err == nil {
		if want.SHA256 != "" && cur.Module != want.SHA256 {
			return Result{Entry: cur}, fmt.Errorf("%s: its module's sha256 is %s, not %s; nothing was changed", ref, cur.Module, want.SHA256)
		}
		if cur.Origin != origin {
			cur.Origin = origin
			if err := s.record(cur); err != nil {
				return Result{Entry: cur}, err
			}
		}
		return Result{Entry: cur}, nil
	}
	p, err := s.pull(ctx, r, digest)
	if err != nil {
		return Result{Entry: cur}, err
	}
	e := Entry{Ref: ref, Digest: digest, Module: modfile.SHA256Hex(p.Module), Stem: Stem(ref), Origin: origin, Pulled: time.Now().UTC()}
	if err := s.check(e, p, want); err != nil {
		return Result{Entry: cur}, err
	}
	if err := s.write(e, p); err != nil {
		return Result{Entry: cur}, err
	}
	return Result{Entry: e, Changed: true}, s.record(e)
}

// pull fetches the artifact digest of r's repository, or copies it from
// another entry that holds the same digest.
func (s *Store) pull(ctx context.Context, r ociref.Ref, digest string) (*oci.Processor, error) {
	s.mu.Lock()
	var same []Entry
	for _, e := range s.entries {
		if e.Digest == digest {
			same = append(same, e)
		}
	}
	s.mu.Unlock()
	for _, e := range same {
		if p, err := s.read(e); err == nil {
			return p, nil
		}
	}
	pinned, err := oci.Pin(r.String(), digest)
	if err != nil {
		return nil, err
	}
	pulled, err := s.opts.Registry.Pull(ctx, pinned)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; nothing was changed", r, err)
	}
	if pulled.Digest != digest {
		return nil, fmt.Errorf("pull %s: the registry sent artifact %s for %s; nothing was changed", r, pulled.Digest, digest)
	}
	return &pulled.Processor, nil
}

// read reads the processor an entry's files hold, if its module is the
// one recorded.
func (s *Store) read(e Entry) (*oci.Processor, error) {
	var p oci.Processor
	var err error
	if p.Module, err = os.ReadFile(s.module(e)); err != nil {
		return nil, err
	}
	if modfile.SHA256Hex(p.Module) != e.Module {
		return nil, fmt.Errorf("%s changed on disk", s.module(e))
	}
	if p.Sidecar, err = optional(modfile.SidecarPath(s.module(e))); err != nil {
		return nil, err
	}
	if p.Signature, err = optional(signature.Path(s.module(e))); err != nil {
		return nil, err
	}
	return &p, nil
}

// check refuses a pulled processor that is not a module, is not the one
// want names, or is not signed by a trusted key.
func (s *Store) check(e Entry, p *oci.Processor, want Want) error {
	switch {
	case !modfile.IsModule(p.Module):
		return fmt.Errorf("%s: the artifact's module is not a WebAssembly module (no \\0asm header); nothing was changed", e.Ref)
	case want.SHA256 != "" && e.Module != want.SHA256:
		return fmt.Errorf("%s: sha256 mismatch: the module pulled is %s, the command says %s; nothing was changed", e.Ref, e.Module, want.SHA256)
	}
	if err := s.opts.Verifier.Verify(p.Subject(), p.Signature); err != nil {
		return fmt.Errorf("%s (%s) refused: %w; nothing was changed", e.Ref, e.Digest, err)
	}
	return nil
}

// write writes e's files: the signature and the sidecar (or removes stale
// ones) before the module, so that a sync never finds the new module with
// the old processor's sidecar.
func (s *Store) write(e Entry, p *oci.Processor) error {
	mod := s.module(e)
	for path, b := range map[string][]byte{signature.Path(mod): p.Signature, modfile.SidecarPath(mod): p.Sidecar} {
		if err := atomicfile.Replace(path, b); err != nil {
			return fmt.Errorf("write into the sources directory: %w", err)
		}
	}
	if err := atomicfile.Write(mod, p.Module); err != nil {
		return fmt.Errorf("write into the sources directory: %w", err)
	}
	return nil
}

// record puts e in the index, written last.
func (s *Store) record(e Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := maps.Clone(s.entries)
	next[e.Ref] = e
	if err := s.writeIndex(next); err != nil {
		return err
	}
	s.entries = next
	return nil
}

func (s *Store) writeIndex(entries map[string]Entry) error {
	list := slices.SortedFunc(maps.Values(entries), func(a, b Entry) int { return strings.Compare(a.Ref, b.Ref) })
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(s.path(IndexFile), append(b, '\n')); err != nil {
		return fmt.Errorf("sources index: %w", err)
	}
	return nil
}

// Remove removes refs and their files from the store; refs it does not
// hold are ignored. The index is written first, so that a crash leaves
// files no entry owns, which Open removes.
func (s *Store) Remove(refs ...string) error {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	s.mu.Lock()
	next := maps.Clone(s.entries)
	var gone []Entry
	for _, ref := range refs {
		if e, ok := next[ref]; ok {
			gone = append(gone, e)
			delete(next, ref)
		}
	}
	if len(gone) == 0 {
		s.mu.Unlock()
		return nil
	}
	err := s.writeIndex(next)
	if err == nil {
		s.entries = next
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range gone {
		mod := s.module(e)
		for _, path := range []string{mod, modfile.SidecarPath(mod), signature.Path(mod)} {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		s.opts.Log.Info("pulled processor removed", "ref", e.Ref, "digest", e.Digest)
	}
	return errors.Join(errs...)
}

// Prune removes the declared references not in declared (the
// configuration no longer lists them) and returns them; references a
// command pulled stay.
func (s *Store) Prune(declared []string) ([]Entry, error) {
	var gone []Entry
	var refs []string
	for _, e := range s.Entries() {
		if e.Origin == Declared && !slices.Contains(declared, e.Ref) {
			gone = append(gone, e)
			refs = append(refs, e.Ref)
		}
	}
	return gone, s.Remove(refs...)
}

// Entries lists what the store holds, sorted by reference.
func (s *Store) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.SortedFunc(maps.Values(s.entries), func(a, b Entry) int { return strings.Compare(a.Ref, b.Ref) })
}

// Get returns the entry of ref, if the store holds it.
func (s *Store) Get(ref string) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[ref]
	return e, ok
}

// File is the path of e's module.
func (s *Store) File(e Entry) string { return s.module(e) }

// RefOf returns the entry whose module is at path (a processor's file, as
// the runtime reports it), if any.
func (s *Store) RefOf(path string) (Entry, bool) {
	dir, name := filepath.Split(filepath.Clean(path))
	if filepath.Clean(dir) != filepath.Clean(s.opts.Dir) {
		return Entry{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		if e.Stem+".wasm" == name {
			return e, true
		}
	}
	return Entry{}, false
}

// report logs a failed fetch and reports it as an event, unless the same
// reason was the last reported for ref.
func (s *Store) report(ref string, err error) {
	reason := err.Error()
	s.mu.Lock()
	repeat := s.failed[ref] == reason
	s.failed[ref] = reason
	e, stored := s.entries[ref]
	s.mu.Unlock()
	attrs := []any{"ref", ref, "err", err}
	data := map[string]string{"ref": ref, "reason": reason}
	if stored {
		attrs = append(attrs, "stored", e.Digest)
		data["digest"] = e.Digest
	}
	if repeat {
		s.opts.Log.Debug("processor pull failed again", attrs...)
		return
	}
	s.opts.Log.Warn("processor pull failed", attrs...)
	s.event(EventFailed, data)
}

func (s *Store) event(typ string, data map[string]string) {
	if s.opts.Events != nil {
		s.opts.Events(typ, data)
	}
}

func (s *Store) path(name string) string { return filepath.Join(s.opts.Dir, name) }

func (s *Store) module(e Entry) string { return s.path(e.Stem + ".wasm") }

// optional reads path, nil when it does not exist.
func optional(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}
