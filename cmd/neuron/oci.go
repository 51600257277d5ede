package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/empirefederation/neuron/internal/atomicfile"
	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/oci"
	"github.com/empirefederation/neuron/internal/signature"
)

// registryHelp is what the registry commands' usages say of references,
// transport and credentials.
const registryHelp = `REF is HOST/REPOSITORY:TAG or HOST/REPOSITORY@sha256:DIGEST, for example
registry.example/team/hello:1.0.0. Credentials are those 'docker login HOST'
stored: the Docker config file in $DOCKER_CONFIG, else ~/.docker/config.json
(credential helpers included). Registries are reached over HTTPS; over plain
HTTP only on loopback (localhost, 127.0.0.0/8, ::1) or with --insecure.
`

var pushUsage = `Usage: neuron plugin push [--config FILE] [--insecure] REF FILE.wasm

Check the module as 'neuron plugin validate' does (a processor that would
not load is not pushed), then push it to the OCI registry as a Wasm artifact
in the CNCF Wasm OCI artifact layout: a config of type
application/vnd.wasm.config.v0+json, the module as a layer of type
application/wasm and, when its sidecar manifest FILE.json is beside it, that
as a second layer of type application/vnd.neuron.processor.manifest.v1+json.
The artifact is annotated with the processor's name, version and
description, and REF's tag is set to it. Print its digest and the reference
that pins it, HOST/REPOSITORY@sha256:DIGEST: what to give a fleet of
neurons so that each runs exactly this processor.

` + registryHelp + `
Flags:
  --config FILE   check the module with this configuration, as 'neuron plugin validate --config FILE'
  --insecure      reach REF's registry over plain HTTP (a registry without TLS off loopback)
`

var pullUsage = `Usage: neuron plugin pull [--insecure] REF [DIR]

Fetch the processor REF names from the OCI registry into DIR (default the
current directory): NAME.wasm, its sidecar manifest NAME.json when the
artifact has one, and NAME.wasm.sig, the signature file made of every
signature attached to the artifact ('neuron plugin sign'), when there is any;
a NAME.json or NAME.wasm.sig left from an earlier pull that the artifact no
longer has is removed. Each file is replaced whole, so a neuron watching DIR
sees the old processor or the new one. The artifact must be a processor that
'neuron plugin push' pushed; a digest in REF must match; every layer is
checked against its digest. Signatures are not checked here: a neuron with
trustedKeys checks them before it loads the processor. Print what was
written and the artifact's digest.

` + registryHelp + `
Flags:
  --insecure   reach REF's registry over plain HTTP (a registry without TLS off loopback)
`

// registryFlags adds --insecure to fs and returns the client the
// registry commands use for ref.
func registryFlags(fs *flag.FlagSet) func(ref string) *oci.Client {
	insecure := fs.Bool("insecure", false, "reach REF's registry over plain HTTP")
	return func(ref string) *oci.Client {
		c := &oci.Client{UserAgent: "neuron/" + version}
		if *insecure {
			// The registry is what precedes the first "/", as
			// registry.ParseReference reads it; a bad REF is the
			// client's to refuse.
			host, _, _ := strings.Cut(ref, "/")
			c.Insecure = []string{host}
		}
		return c
	}
}

func pushFlags(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
	opts := configFlag(fs)
	client := registryFlags(fs)
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		ref, path := args[0], args[1]
		info, ok := check(ctx, "push", path, opts, stderr)
		if !ok {
			return exitFailure
		}
		f, err := modfile.ReadFile(path)
		if err == nil && f.Digest != info.Digest {
			err = fmt.Errorf("%s changed while it was checked: push it again", path)
		}
		if err != nil {
			fmt.Fprintf(stderr, "neuron plugin push: %v\n", err)
			return exitFailure
		}
		m := info.Manifest
		digest, err := client(ref).Push(ctx, ref, oci.Processor{
			Module: f.Raw, Sidecar: f.Sidecar, Name: m.Name, Version: m.Version, Description: m.Description,
		})
		if err != nil {
			fmt.Fprintf(stderr, "neuron plugin push: %v\n", err)
			return exitFailure
		}
		pin, _ := oci.Pin(ref, digest) // Push parsed ref and made digest
		fmt.Fprintf(stdout, "pushed %s@%s to %s\ndigest %s\npinned %s\n", m.Name, m.Version, ref, digest, pin)
		return exitOK
	}
}

func pullFlags(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
	client := registryFlags(fs)
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		ref, dir := args[0], "."
		if len(args) > 1 {
			dir = args[1]
		}
		p, err := client(ref).Pull(ctx, ref)
		if err == nil {
			err = writePulled(dir, p, stdout)
		}
		if err != nil {
			fmt.Fprintf(stderr, "neuron plugin pull: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "pulled %s@%s from %s\ndigest %s\n", p.Name, p.Version, ref, p.Digest)
		return exitOK
	}
}

// writePulled writes p into dir as NAME.wasm with NAME.json and
// NAME.wasm.sig, removing either when p has none, and prints each change
// to w. The module comes last, so that a neuron watching dir finds its
// sidecar and signature in place when it sees the module change.
func writePulled(dir string, p *oci.Pulled, w io.Writer) error {
	module := filepath.Join(dir, p.Name+".wasm")
	for _, f := range []struct {
		path string
		data []byte
	}{{modfile.SidecarPath(module), p.Sidecar}, {signature.Path(module), p.Signature}, {module, p.Module}} {
		if f.data == nil {
			switch err := os.Remove(f.path); {
			case err == nil:
				fmt.Fprintf(w, "removed %s\n", f.path)
			case !errors.Is(err, os.ErrNotExist):
				return err
			}
			continue
		}
		if err := atomicfile.Write(f.path, f.data); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s\n", f.path)
	}
	return nil
}

// signRef signs the processor at ref in its registry with the key in
// keyPath: the REF form of `neuron plugin sign`.
func signRef(ctx context.Context, c *oci.Client, ref, keyPath string, stdout, stderr io.Writer) int {
	key, err := signature.LoadPrivateKey(keyPath)
	if err == nil {
		var digest string
		if digest, err = c.Sign(ctx, ref, key); err == nil {
			fmt.Fprintf(stdout, "signed %s with key %s\ndigest %s\n", ref, signature.KeyID(key.Public().(ed25519.PublicKey)), digest)
			return exitOK
		}
	}
	fmt.Fprintf(stderr, "neuron plugin sign: %v\n", err)
	return exitFailure
}
