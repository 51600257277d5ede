package control

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/empirefederation/neuron/internal/atomicfile"
	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/ociref"
	"github.com/empirefederation/neuron/internal/signature"
	"github.com/empirefederation/neuron/internal/sources"
	"github.com/empirefederation/neuron/runtime"
)

// MaxModuleBytes bounds a module load_plugin downloads: what the neuron
// reads of a module file.
const MaxModuleBytes = modfile.MaxBytes

// Plugins is what the plugin commands need of the runtime: the one swap
// path and its variants.
type Plugins interface {
	Sync(ctx context.Context) (runtime.Changes, error)
	Reload(ctx context.Context, name string) (runtime.Changes, error)
	Unload(ctx context.Context, name string) error
	Rollback(ctx context.Context, name string) (from, to runtime.ProcessorInfo, err error)
	Drain()
	Resume()
	Processors() []runtime.ProcessorInfo
}

// Sources is what the plugin commands need of the store of processors
// pulled from OCI registries (*sources.Store), whose directory the
// runtime scans beside the plugins directory.
type Sources interface {
	// Fetch makes the store hold what ref names now, pulling it when it
	// moved; on failure the stored files stay as they were.
	Fetch(ctx context.Context, ref string, want sources.Want) (sources.Result, error)
	// RefOf returns the entry whose module is the file at path, if any.
	RefOf(path string) (sources.Entry, bool)
}

// PluginCommands are the commands that change what is served:
//
//   - reload_plugin {"plugin": NAME}: opens NAME's files again (clears an
//     unload); when the version serving was pulled from a registry, its
//     reference is resolved first and a tag that moved is pulled.
//   - load_plugin {"path": FILE}, {"url": URL, "sha256": HEX} or
//     {"ref": REF, "sha256": optional HEX}: takes a module from inside the
//     plugins directory (dir), from a URL, or from an OCI registry into the
//     sources store (src); the digests must match before anything is
//     compiled. A path load takes the sidecar manifest and signature file
//     beside it along, a URL load fetches URL.sig when trust is set, and
//     a pulled reference carries its signature referrers; the signature,
//     when trust is set, must verify before anything is placed or
//     compiled.
//   - unload_plugin {"plugin": NAME}: stops serving NAME after in-flight calls.
//   - rollback_plugin {"plugin": NAME}: serves NAME's previous version.
//   - drain {}, resume {}: stop and restart taking processor traffic (503
//     "draining" meanwhile).
//
// Every one goes through the runtime's swap path: a module that fails leaves
// what serves untouched, and the command reports why.
//
// src is the store of processors pulled from registries; trust, when not
// nil, are the keys one of which must have signed a module (see
// runtime.Options.Trust).
func PluginCommands(p Plugins, dir string, downloads *Downloads, src Sources, trust *signature.Verifier) map[string]Command {
	named := func(run func(ctx context.Context, name string) (any, error)) Command {
		return Command{
			Check: func(data json.RawMessage) error { _, err := pluginArg(data); return err },
			Run: func(ctx context.Context, data json.RawMessage) (any, error) {
				name, _ := pluginArg(data)
				return run(ctx, name)
			},
		}
	}
	none := func(run func()) Command {
		return Command{
			Check: func(data json.RawMessage) error { return decodeStrict(data, &struct{}{}) },
			Run:   func(context.Context, json.RawMessage) (any, error) { run(); return nil, nil },
		}
	}
	l := loader{dir: dir, downloads: downloads, plugins: p, sources: src, trust: trust}
	return map[string]Command{
		"reload_plugin": named(l.reload),
		"unload_plugin": named(func(ctx context.Context, name string) (any, error) {
			return map[string]string{"unloaded": name}, p.Unload(ctx, name)
		}),
		"rollback_plugin": named(func(ctx context.Context, name string) (any, error) {
			from, to, err := p.Rollback(ctx, name)
			if err != nil {
				return nil, err
			}
			return map[string]string{"from": from.Name + "@" + from.Version, "fromDigest": from.Digest,
				"to": to.Name + "@" + to.Version, "toDigest": to.Digest}, nil
		}),
		"load_plugin": {
			Check: func(data json.RawMessage) error { _, err := l.args(data); return err },
			Run: func(ctx context.Context, data json.RawMessage) (any, error) {
				a, _ := l.args(data)
				return l.load(ctx, a)
			},
		},
		"drain":  none(p.Drain),
		"resume": none(p.Resume),
	}
}

func pluginArg(data json.RawMessage) (string, error) {
	var a struct {
		Plugin string `json:"plugin"`
	}
	if err := decodeStrict(data, &a); err != nil {
		return "", err
	}
	if a.Plugin == "" {
		return "", errors.New(`data.plugin is required: the processor's name, as its manifest declares it`)
	}
	return a.Plugin, nil
}

// changes is a swap's outcome as a command result.
func changes(ch runtime.Changes) map[string]any {
	ids := func(infos []runtime.ProcessorInfo) []string {
		out := []string{}
		for _, i := range infos {
			out = append(out, i.Name+"@"+i.Version+"#"+i.Digest)
		}
		return out
	}
	return map[string]any{"loaded": ids(ch.Loaded), "swapped": ids(ch.Swapped), "unloaded": ids(ch.Unloaded), "rejected": ch.Rejected}
}

// rejected makes a swap that refused a module a failed command.
func rejected(ch runtime.Changes) error {
	var errs []error
	for _, r := range ch.Rejected {
		errs = append(errs, fmt.Errorf("%s rejected: %s", r.File, r.Reason))
	}
	return errors.Join(errs...)
}

// loader carries out load_plugin and reload_plugin.
type loader struct {
	dir       string
	downloads *Downloads
	plugins   Plugins
	sources   Sources
	trust     *signature.Verifier // nil: no signature is checked
}

type loadArgs struct {
	Path   string `json:"path"`
	URL    string `json:"url"`
	Ref    string `json:"ref"`
	SHA256 string `json:"sha256"`
}

// args validates load_plugin's data: a path inside the plugins directory,
// an http(s) URL with the module's sha256, or an OCI reference.
func (l loader) args(data json.RawMessage) (loadArgs, error) {
	var a loadArgs
	if err := decodeStrict(data, &a); err != nil {
		return a, err
	}
	a.SHA256 = strings.ToLower(a.SHA256)
	given := 0
	for _, v := range []string{a.Path, a.URL, a.Ref} {
		if v != "" {
			given++
		}
	}
	switch {
	case given != 1:
		return a, errors.New(`give exactly one of data.path (a .wasm file inside the plugins directory), data.url (with data.sha256) or data.ref (an OCI reference, ` + ociref.Forms + `)`)
	case a.SHA256 != "" && !isHexDigest(a.SHA256):
		return a, fmt.Errorf("data.sha256 %q: want 64 hex digits", a.SHA256)
	case a.Ref != "" && l.sources == nil:
		return a, errors.New("data.ref: this neuron keeps no processors pulled from registries")
	case a.Ref != "":
		if _, err := ociref.Parse(a.Ref); err != nil {
			return a, fmt.Errorf("data.ref: %w", err)
		}
	case a.URL != "" && a.SHA256 == "":
		return a, errors.New("data.sha256 is required with data.url: the module's digest is checked before anything is compiled")
	case a.URL != "":
		u, err := url.Parse(a.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return a, fmt.Errorf("data.url %q: want an http(s) URL of a .wasm file", a.URL)
		}
		if !strings.HasSuffix(path.Base(u.Path), ".wasm") {
			return a, fmt.Errorf("data.url %q: the file name must end in .wasm", a.URL)
		}
	default:
		if _, err := l.inside(a.Path); err != nil {
			return a, err
		}
	}
	return a, nil
}

// inside resolves p against the plugins directory and refuses anything
// outside it, symbolic links included.
func (l loader) inside(p string) (string, error) {
	if !strings.HasSuffix(p, ".wasm") {
		return "", fmt.Errorf("data.path %q: want a .wasm file", p)
	}
	root, err := filepath.Abs(l.dir)
	if err != nil {
		return "", err
	}
	full := p
	if !filepath.IsAbs(full) {
		full = filepath.Join(root, p)
	}
	rel, err := filepath.Rel(root, filepath.Clean(full))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("data.path %q is outside the plugins directory %s: load_plugin only takes files inside it", p, l.dir)
	}
	if real, err := filepath.EvalSymlinks(full); err == nil {
		realRoot, _ := filepath.EvalSymlinks(root)
		if r, err := filepath.Rel(realRoot, real); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return "", fmt.Errorf("data.path %q leads outside the plugins directory through a symbolic link", p)
		}
	}
	return full, nil
}

// placed is a module as load_plugin places it in the plugins directory:
// its name there, and the files that go beside it (nil: none).
type placed struct {
	name                     string
	module, sidecar, sigFile []byte
	// companions says the sidecar and signature file are placed with the
	// module (a path load from elsewhere in the directory); else those
	// already beside name stay as they are.
	companions bool
}

// load reads or downloads the module, checks its digest and, when the
// neuron trusts keys, its signature, puts it at the top of the plugins
// directory (atomically) and swaps it in; or pulls a reference into the
// sources store (which checks the same) and swaps it in.
func (l loader) load(ctx context.Context, a loadArgs) (any, error) {
	if a.Ref != "" {
		return l.pull(ctx, a.Ref, a.SHA256)
	}
	var (
		p   *placed
		u   *url.URL
		err error
	)
	if a.URL != "" {
		u, _ = url.Parse(a.URL) // checked by args
		p, err = l.download(ctx, u, a.SHA256)
	} else {
		p, err = l.read(a.Path, a.SHA256)
	}
	if err != nil {
		return nil, err
	}
	if err := l.verify(p, u); err != nil {
		return nil, err
	}
	if err := l.place(p); err != nil {
		return nil, err
	}
	ch, err := l.plugins.Sync(ctx)
	return changes(ch), errors.Join(err, rejected(ch))
}

// pull fetches ref into the sources store and, when it changed, swaps it
// in. The outcome names the reference and the artifact digest it holds
// (the one still serving, when the pull failed).
func (l loader) pull(ctx context.Context, ref, sha string) (any, error) {
	res, err := l.sources.Fetch(ctx, ref, sources.Want{SHA256: sha, Origin: sources.Command})
	out := map[string]any{"ref": ref}
	if res.Digest != "" {
		out["digest"] = res.Digest
	}
	if err != nil {
		return out, err
	}
	ch, err := l.plugins.Sync(ctx)
	maps.Copy(out, changes(ch))
	return out, errors.Join(err, rejected(ch))
}

// reload reopens name's files; when the version serving came from a
// reference, the reference is fetched first, so that a tag that moved is
// pulled. A registry that fails fails the command before the reload: the
// version serving stays, and the outcome says why.
func (l loader) reload(ctx context.Context, name string) (any, error) {
	out := map[string]any{}
	for _, p := range l.plugins.Processors() {
		if !p.Serving || p.Name != name || l.sources == nil {
			continue
		}
		if e, ok := l.sources.RefOf(p.File); ok {
			res, err := l.sources.Fetch(ctx, e.Ref, sources.Want{Origin: e.Origin})
			out["ref"], out["digest"] = e.Ref, res.Digest
			if err != nil {
				return out, fmt.Errorf("%s serves %s, which could not be fetched again; nothing was reloaded: %w", name, e.Ref, err)
			}
		}
	}
	ch, err := l.plugins.Reload(ctx, name)
	maps.Copy(out, changes(ch))
	return out, errors.Join(err, rejected(ch))
}

// download fetches the module at u, checks it has digest want, and, when
// the neuron trusts keys, fetches its signature file beside it (see
// signatureURL). The sidecar already beside the module's place stays.
func (l loader) download(ctx context.Context, u *url.URL, want string) (*placed, error) {
	bin, err := l.downloads.fetch(ctx, u, moduleFile)
	if err != nil {
		return nil, err
	}
	if got := modfile.SHA256Hex(bin); got != want { // what the far side sent is not told: see Downloads
		l.downloads.Log.Warn("load_plugin download has another digest", "url", u.Redacted(), "sha256", got, "want", want)
		return nil, errors.New("sha256 mismatch: the module downloaded is not the one data.sha256 names (the neuron's log has its digest); nothing was loaded")
	}
	p := &placed{name: path.Base(u.Path), module: bin}
	if p.sidecar, err = readIfExists(modfile.SidecarPath(filepath.Join(l.dir, p.name)), modfile.MaxBytes); err != nil {
		return nil, err
	}
	if l.trust == nil {
		return p, nil
	}
	if p.sigFile, err = l.downloads.fetch(ctx, signatureURL(u), signatureFile); err != nil {
		return nil, fmt.Errorf("signature: %w: this neuron loads only processors signed by a trusted key, and looks for the signature file at the module's URL with %s added; sign the module with `neuron plugin sign --key KEY.key %s` and publish %s beside it; nothing was loaded",
			err, signature.Suffix, p.name, p.name+signature.Suffix)
	}
	return p, nil
}

// read reads the module at rel inside the plugins directory, checks its
// digest when the command gives one, and takes the sidecar and signature
// file beside it along.
func (l loader) read(rel, want string) (*placed, error) {
	full, err := l.inside(rel)
	if err != nil {
		return nil, err
	}
	p := &placed{name: filepath.Base(full)}
	if p.module, err = os.ReadFile(full); err != nil {
		return nil, err
	}
	if got := modfile.SHA256Hex(p.module); want != "" && got != want {
		return nil, fmt.Errorf("sha256 mismatch: the module's is %s, the command says %s; nothing was loaded", got, want)
	}
	if p.sidecar, err = readIfExists(modfile.SidecarPath(full), modfile.MaxBytes); err != nil {
		return nil, fmt.Errorf("%w; nothing was loaded", err)
	}
	if p.sigFile, err = readIfExists(signature.Path(full), signature.MaxFileBytes); err != nil {
		return nil, fmt.Errorf("%w; nothing was loaded", err)
	}
	dst, _ := filepath.Abs(filepath.Join(l.dir, p.name))
	p.companions = dst != full
	return p, nil
}

// verify checks, when the neuron trusts keys, that p is signed by one of
// them, as the runtime will check it once placed (see
// modfile.File.Verify): before anything is written.
func (l loader) verify(p *placed, u *url.URL) error {
	if l.trust == nil {
		return nil
	}
	f := &modfile.File{Path: filepath.Join(l.dir, p.name), Digest: modfile.SHA256Hex(p.module), Sig: p.sigFile}
	if p.sidecar != nil {
		f.SidecarSum = modfile.SHA256Hex(p.sidecar)
	}
	if err := f.Verify(l.trust); err != nil {
		if u != nil {
			return fmt.Errorf("%w (downloaded from %s); nothing was loaded", err, signatureURL(u).Redacted())
		}
		return fmt.Errorf("%w; nothing was loaded", err)
	}
	return nil
}

// place writes p into the plugins directory: its signature file and
// sidecar first (or removes those of another module when p has none),
// the module last, each atomically (a hidden temporary file renamed into
// place, which the watcher ignores) and only when it differs from what is
// there, so no reader sees half a module.
func (l loader) place(p *placed) error {
	dst := filepath.Join(l.dir, p.name)
	files := []struct {
		path  string
		b     []byte
		write bool
	}{
		{signature.Path(dst), p.sigFile, p.companions || p.sigFile != nil},
		{modfile.SidecarPath(dst), p.sidecar, p.companions},
		{dst, p.module, true},
	}
	for _, f := range files {
		if !f.write {
			continue
		}
		if err := atomicfile.Replace(f.path, f.b); err != nil {
			return fmt.Errorf("write into the plugins directory: %w", err)
		}
	}
	return nil
}

// readIfExists reads path, at most limit bytes; nil when there is no
// such file.
func readIfExists(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, err
}

func isHexDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
