package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/processor"
	"github.com/empirefederation/neuron/internal/signature"
	"github.com/empirefederation/neuron/sdk/abi"
)

// Inspection is what Check learns of a module without serving it. Its JSON
// form uses the manifest's field names and units (see Limits.MarshalJSON).
type Inspection struct {
	Path     string       `json:"path"`
	Size     int          `json:"size"`
	Digest   string       `json:"sha256"`
	ABI      int          `json:"abiVersion"`
	Manifest abi.Manifest `json:"manifest"`
	// ManifestSource is "export neuron_manifest" or the sidecar file's path.
	ManifestSource string `json:"manifestSource"`
	// Interruptible says the module could be instrumented so that a call
	// past its deadline is stopped cheaply; see internal/interrupt.
	Interruptible bool `json:"interruptible"`
	// Limits are the processor's effective limits: the runtime's defaults,
	// then the manifest's, then the operator's for this processor.
	Limits  Limits   `json:"limits"`
	Exports []string `json:"exports"`
	Imports []string `json:"imports"`
	// SignedBy are the ids of the keys whose signatures the signature
	// file beside the module (NAME.wasm.sig) holds; empty when there is
	// none. SignatureVerified says one of them is a key Options.Trust
	// trusts and verified: false when the runtime trusts no key, which
	// checks no signature.
	SignedBy          []string `json:"signedBy"`
	SignatureVerified bool     `json:"signatureVerified"`
}

// Check opens the module file at path exactly as Sync opens a new file
// (read, checked against the module budget, compiled, ABI and manifest
// checked, limits within the runtime's maximums, permissions granted, the
// pool's minimum started, the self-test run), then closes it: a file Check
// accepts, Sync loads, unless its routes collide with another processor's
// or its processor was unloaded; a file Check refuses, Sync rejects with
// the same reason. The error is then a *Rejection. Check serves nothing
// and changes nothing in the runtime.
func (rt *Runtime) Check(ctx context.Context, path string) (*Inspection, error) {
	f, err := modfile.ReadFile(path)
	if err != nil {
		return nil, newRejection(path, f, err)
	}
	p, err := processor.Open(ctx, rt.svc, f, false)
	if err != nil {
		return nil, newRejection(path, f, err)
	}
	defer p.Close(context.WithoutCancel(ctx))
	src := "export " + abi.ExportManifest
	if p.Mod.Sidecar != "" {
		src = p.Mod.Sidecar
	}
	return &Inspection{Path: path, Size: p.Mod.Size, Digest: p.Mod.Digest, ABI: abi.Version, Manifest: p.Mod.Manifest,
		ManifestSource: src, Interruptible: p.Interruptible(), Limits: p.Limits, Exports: p.Mod.Exports,
		Imports: p.Mod.Imports, SignedBy: signers(f.Sig), SignatureVerified: rt.opts.Trust != nil}, nil
}

// signers are the key ids of the signature file sig, none when there is
// none or it cannot be read (a runtime that trusts keys refused it then).
func signers(sig []byte) []string {
	ids := []string{}
	if f, err := signature.Parse(sig); err == nil {
		for _, s := range f.Signatures {
			ids = append(ids, s.KeyID)
		}
	}
	return ids
}

// Inspect is Check in a runtime of its own made with opts, closed before
// it returns: what `neuron plugin inspect` and `neuron plugin validate`
// run, with the options `neuron run` would use. Without opts.DataDir the
// runtime's data (its compilation cache unless opts.CacheDir is set, and
// the directory a filesystem permission mounts) goes to a temporary
// directory, removed after; without opts.Logger nothing is logged.
func Inspect(ctx context.Context, path string, opts Options) (*Inspection, error) {
	if opts.DataDir == "" {
		dir, err := os.MkdirTemp("", "neuron-inspect-")
		if err != nil {
			return nil, fmt.Errorf("inspect: %w", err)
		}
		defer os.RemoveAll(dir)
		opts.DataDir = dir
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	rt, err := New(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer rt.Close(context.WithoutCancel(ctx))
	return rt.Check(ctx, path)
}

// newRejection is the rejection of the file at path, read as f (nil when
// it could not be read), for err: naming the processor when its manifest
// was read before the failure.
func newRejection(path string, f *modfile.File, err error) *Rejection {
	r := &Rejection{File: path, Reason: err.Error(), err: err}
	if f != nil {
		r.Digest = f.Digest
	}
	if oe, ok := errors.AsType[*modfile.Error](err); ok {
		r.Plugin, r.Version = oe.Plugin, oe.Version
	}
	return r
}

// Error is the file's name and the reason, as `neuron plugin validate`
// prints them.
func (r *Rejection) Error() string { return filepath.Base(r.File) + ": " + r.Reason }

// Unwrap returns the error that made the file fail, when there was one.
func (r *Rejection) Unwrap() error { return r.err }
