// Package modfile reads a processor's module file and checks it before
// anything of it serves: the file and its sidecar manifest as read from
// disk (File, what a sync compares), the file prepared to compile
// (Binary), and the module compiled, probed for its ABI version and
// manifest, and validated (Read, Module); also the one gate on
// compilation of the process (Compile) and the manifest's rules (the
// names, routes and headers a processor may declare). It holds no state
// of a runtime: it must not touch processors, instances that serve,
// snapshots or swaps, which the runtime builds on what it returns.
package modfile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/empirefederation/neuron/internal/codecache"
	"github.com/empirefederation/neuron/internal/guest"
	"github.com/empirefederation/neuron/internal/guestmem"
	"github.com/empirefederation/neuron/internal/interrupt"
	"github.com/empirefederation/neuron/internal/signature"
	"github.com/empirefederation/neuron/sdk/abi"
)

// MaxBytes is the largest module file the neuron reads.
const MaxBytes = 256 << 20

// DigestLabelLen is how many hex digits of a module's sha256 label its
// metrics and name its archived file: enough to tell builds apart.
const DigestLabelLen = 12

// wasmMagic starts every Wasm binary.
var wasmMagic = []byte{0x00, 'a', 's', 'm'}

// IsModule reports whether b starts like a Wasm binary.
func IsModule(b []byte) bool { return bytes.HasPrefix(b, wasmMagic) }

// Module is a module file read and checked against the ABI, before any
// instance of it serves traffic.
type Module struct {
	Path     string
	Digest   string // hex sha256 of the file
	Size     int
	Manifest abi.Manifest
	Sidecar  string // path of the sidecar manifest, if one was used
	Exports  []string
	Imports  []string
}

// Read reads path and its optional sidecar manifest, checks the file
// is a Wasm binary, compiles it, checks its exports and ABI version, and
// reads and validates its manifest. r compiles and runs the probe, each
// piece of guest code under startTimeout(name) and until ctx ends (name is
// the processor's when a sidecar manifest names it, else ""); the caller
// closes r, which closes the compiled module returned.
func Read(ctx context.Context, r wazero.Runtime, mem *guestmem.Allocator, bin *Binary, startTimeout func(name string) time.Duration) (*Module, wazero.CompiledModule, error) {
	m := &Module{Path: bin.Path, Digest: bin.Digest, Size: bin.Size}
	compiled, err := Compile(ctx, r, bin.Code)
	if err != nil {
		return nil, nil, fmt.Errorf("compile: %w (is the file complete?)", err)
	}
	m.Exports, m.Imports = exportNames(compiled), importNames(compiled)
	if missing := missingExports(m.Exports, abi.ExportABIVersion, abi.ExportAlloc); len(missing) > 0 {
		return nil, nil, fmt.Errorf("missing required exports %s: is this a neuron processor built against ABI v%d?", strings.Join(missing, ", "), abi.Version)
	}
	if bin.Sidecar != nil {
		m.Sidecar = SidecarPath(bin.Path)
		if err := decodeStrict(bin.Sidecar, &m.Manifest); err != nil {
			return nil, nil, fmt.Errorf("sidecar manifest %s: %w", m.Sidecar, err)
		}
	}
	if err := probe(ctx, r, mem, compiled, m, startTimeout(m.Manifest.Name)); err != nil {
		return nil, nil, m.named(err)
	}
	if err := validateManifest(&m.Manifest); err != nil {
		return nil, nil, m.named(fmt.Errorf("invalid manifest: %w", err))
	}
	for _, e := range m.Manifest.Endpoints {
		if missing := missingExports(m.Exports, e.Export); len(missing) > 0 {
			return nil, nil, m.named(fmt.Errorf("endpoint %s %s: the module has no export %q", e.Method, e.Path, e.Export))
		}
	}
	return m, compiled, nil
}

// named wraps err, a failure of m, so that its rejection names the
// processor and version when the manifest was read before it failed.
func (m *Module) named(err error) error {
	if m.Manifest.Name == "" && m.Manifest.Version == "" {
		return err
	}
	return &Error{Plugin: m.Manifest.Name, Version: m.Manifest.Version, Err: err}
}

// Binary is a module file as read, with the code the runtime compiles.
type Binary struct {
	*File
	Code []byte // the file prepared to compile: see codecache.Prepared
	// Interruptible says Code carries the interrupt flag; without it calls
	// are stopped by wazero's slower context mechanism.
	Interruptible bool
}

// File is a module file and its optional sidecar manifest as read
// from disk, before anything is compiled: what Sync compares to decide
// whether a file changed.
type File struct {
	Path   string
	Raw    []byte // the file as it is on disk
	Digest string // hex sha256 of Raw
	Size   int
	// Sidecar is the sidecar manifest NAME.json as read, nil when there is
	// none; SidecarSum is its hex sha256, "" when there is none.
	Sidecar    []byte
	SidecarSum string
	// Sig is the detached signature file NAME.wasm.sig as read (at most
	// signature.MaxFileBytes), nil when there is none; SigSum is its hex
	// sha256, "" when there is none. SigErr says why it could not be
	// read: only Verify reports it, as a neuron that trusts no key never
	// looks at signatures.
	Sig    []byte
	SigSum string
	SigErr error
}

// Fingerprint identifies a file's content: a processor is reused only
// while the module, its sidecar and its signature file are unchanged, so
// that adding or fixing a signature makes a rejected file be tried again.
type Fingerprint struct{ Digest, Sidecar, Signature string }

// Fingerprint returns what identifies f's content.
func (f *File) Fingerprint() Fingerprint { return Fingerprint{f.Digest, f.SidecarSum, f.SigSum} }

// Subject is what a signature of f covers: its module and sidecar.
func (f *File) Subject() signature.Subject {
	return signature.Subject{Module: f.Digest, Sidecar: f.SidecarSum}
}

// Verify checks that f is signed by a key v trusts (a nil v trusts every
// file), before anything of it is compiled. Its error says what is wrong
// and how to sign the file.
func (f *File) Verify(v *signature.Verifier) error {
	if v == nil {
		return nil
	}
	err := f.SigErr
	if err == nil {
		err = v.Verify(f.Subject(), f.Sig)
	}
	if err != nil {
		return fmt.Errorf("signature: %w; sign the module and its manifest with `neuron plugin sign --key KEY.key %s`, which writes %s beside it",
			err, filepath.Base(f.Path), filepath.Base(signature.Path(f.Path)))
	}
	return nil
}

// ReadFile reads a module file and its sidecar manifest, and checks
// the file starts like a Wasm binary. When the file was read but is not a
// Module, it returns the file with the error, so that the caller knows
// which bytes it refused.
func ReadFile(path string) (*File, error) {
	raw, digest, err := readFileLimit(path, MaxBytes)
	if err != nil {
		return nil, err
	}
	f := &File{Path: path, Raw: raw, Digest: digest, Size: len(raw)}
	if !IsModule(raw) {
		return f, errors.New("not a WebAssembly module (no \\0asm header); build processors with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared")
	}
	side, err := os.ReadFile(SidecarPath(path))
	switch {
	case err == nil:
		f.Sidecar, f.SidecarSum = side, SHA256Hex(side)
	case !errors.Is(err, os.ErrNotExist):
		return f, fmt.Errorf("read sidecar manifest: %w", err)
	}
	switch sig, sum, err := readFileLimit(signature.Path(path), signature.MaxFileBytes); {
	case err == nil:
		f.Sig, f.SigSum = sig, sum
	case !errors.Is(err, os.ErrNotExist):
		f.SigErr = fmt.Errorf("read %s: %w", filepath.Base(signature.Path(path)), err)
		f.SigSum = "unreadable: " + err.Error()
	}
	return f, nil
}

// SHA256Hex is the hex sha256 of b: how the neuron names a module's and a
// sidecar's content (File.Digest, File.SidecarSum).
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Binary prepares the file to compile (checked against the module budget,
// tables capped, data segments coalesced, instrumented for interruption),
// or takes the result of preparing the same bytes before from cache (a
// swap back to a version, a reload, a runtime sharing the cache). It fails
// when the neuron refuses to compile the file. The raw bytes are kept
// unchanged (the archive stores them).
func (f *File) Binary(cache *codecache.Prepared) (*Binary, error) {
	b := &Binary{File: f}
	var err error
	if b.Code, b.Interruptible, err = cache.Code(f.Digest, f.Raw); err != nil {
		return nil, err
	}
	return b, nil
}

// probe instantiates the module once to check its ABI version and, without
// a sidecar, read its manifest, each call under timeout.
func probe(ctx context.Context, r wazero.Runtime, mem *guestmem.Allocator, compiled wazero.CompiledModule, m *Module, timeout time.Duration) error {
	mod, cc, stderr, err := guest.Instantiate(ctx, r, mem, compiled, guest.ModuleConfig(), timeout)
	if err != nil {
		return err
	}
	defer mod.Close(ctx)
	defer cc.Release()
	stack := []uint64{0}
	if err := cc.CallWithin(ctx, mod.ExportedFunction(abi.ExportABIVersion), stack, timeout); err != nil {
		return fmt.Errorf("%s: %w", abi.ExportABIVersion, guest.WithStderr(err, stderr.String()))
	}
	if v := api.DecodeI32(stack[0]); v != abi.Version {
		return fmt.Errorf("ABI version %d is not supported: this neuron speaks ABI v%d; rebuild the processor with a matching SDK", v, abi.Version)
	}
	if m.Sidecar != "" {
		return nil
	}
	fn := mod.ExportedFunction(abi.ExportManifest)
	if fn == nil {
		return fmt.Errorf("no manifest: export %s or put a sidecar %s next to the module", abi.ExportManifest, SidecarPath(m.Path))
	}
	if err := cc.CallWithin(ctx, fn, stack, timeout); err != nil {
		return fmt.Errorf("%s: %w", abi.ExportManifest, guest.WithStderr(err, stderr.String()))
	}
	ptr, n := abi.Unpack(stack[0])
	isJSON := func(b []byte) bool { return json.Valid(b) && bytes.HasPrefix(b, []byte("{")) }
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		return fmt.Errorf("%s returned %d bytes at %d, outside guest memory of %d bytes%s", abi.ExportManifest, n, ptr,
			mod.Memory().Size(), guest.SwapHint(mod.Memory(), ptr, n, isJSON))
	}
	if err := decodeStrict(b, &m.Manifest); err != nil {
		m.Manifest = abi.Manifest{} // not read: a rejection names no processor
		return fmt.Errorf("manifest from %s (%d bytes at %d): %w%s", abi.ExportManifest, n, ptr, err, guest.SwapHint(mod.Memory(), ptr, n, isJSON))
	}
	return nil
}

// SidecarPath is NAME.json next to NAME.wasm.
func SidecarPath(path string) string {
	return strings.TrimSuffix(path, filepath.Ext(path)) + ".json"
}

// decodeStrict decodes JSON into v, refusing unknown fields and trailing data.
func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// readChunk is how much of a module file is read and hashed between two
// yields.
const readChunk = 64 << 10

// readFileLimit reads at most limit bytes of path and returns them with
// their hex sha256. It reads and hashes in chunks and yields its thread to
// other goroutines between them (runtime.Gosched): hashing a 3.7 MB
// module in one go is 2 ms of assembly that Go's scheduler cannot preempt,
// and a swap doing so held one of the cores its calls needed. See
// docs/design.md, "Why does a swap yield?".
func readFileLimit(path string, limit int64) ([]byte, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	size := int64(readChunk)
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		size = fi.Size()
	}
	b := make([]byte, 0, min(size, limit)+1)
	h := sha256.New()
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, readChunk) // the file grew since Stat
		}
		n, err := f.Read(b[len(b):min(cap(b), len(b)+readChunk)])
		h.Write(b[len(b) : len(b)+n])
		b = b[:len(b)+n]
		if int64(len(b)) > limit {
			return nil, "", fmt.Errorf("larger than %d bytes", limit)
		}
		if err == io.EOF {
			return b, hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return nil, "", err
		}
		runtime.Gosched()
	}
}

// exportNames returns the names of the functions c exports, less the
// start function the instrumentation exports: no endpoint may call it.
func exportNames(c wazero.CompiledModule) []string {
	var names []string
	for name := range c.ExportedFunctions() {
		if name != interrupt.StartExport {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func importNames(c wazero.CompiledModule) []string {
	var names []string
	for _, f := range c.ImportedFunctions() {
		mod, name, _ := f.Import()
		names = append(names, mod+"."+name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func missingExports(have []string, want ...string) []string {
	var missing []string
	for _, w := range want {
		if _, ok := slices.BinarySearch(have, w); !ok {
			missing = append(missing, w)
		}
	}
	return missing
}

// At returns a copy of m as the file at path holds it: a kept code's
// module, for a later version of the same contents.
func (m *Module) At(path string) *Module {
	c := *m
	c.Path = path
	if c.Sidecar != "" {
		c.Sidecar = SidecarPath(path)
	}
	return &c
}

// Error is a module file that failed to open, naming its processor
// when the manifest was read before the failure.
type Error struct {
	Plugin, Version string
	Err             error
}

// Error returns the failure's message, without the names.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the failure.
func (e *Error) Unwrap() error { return e.Err }
