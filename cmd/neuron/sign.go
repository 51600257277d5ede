package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/empirefederation/neuron/internal/atomicfile"
	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/signature"
)

const keygenUsage = `Usage: neuron plugin keygen [--out PREFIX]

Make a new Ed25519 key pair for signing processors: PREFIX.key, the private
key (PEM PKCS #8, mode 0600: keep it where you build and sign, never on the
neurons), and PREFIX.pub, the public key (PEM) that neurons trust. Print the
key's id, the name signatures and errors give it. Existing files are never
overwritten.

A neuron trusts the keys its configuration lists: trustedKeys in the YAML
file, or NEURON_TRUSTED_KEYS=PREFIX.pub[,OTHER.pub] in the environment. It
then loads only processors signed by one of them (see 'neuron plugin sign').
To rotate a key: make a new one, sign with both, trust both, then retire the
old one from trustedKeys.

Flags:
  --out PREFIX   where to write the keys (default neuron-signing)
`

const signUsage = `Usage: neuron plugin sign --key KEY.key [--insecure] FILE.wasm|REF

Sign a processor with the Ed25519 private key KEY.key (from 'neuron plugin
keygen', or 'openssl genpkey -algorithm ed25519'), so that neurons which
trust the key (trustedKeys, NEURON_TRUSTED_KEYS) accept it. The signature
covers the module and its sidecar manifest, when there is one, so sign after
the last change to either. A neuron with trusted keys refuses a processor
whose signature is missing or does not verify, before compiling it; 'neuron
plugin validate' with the same configuration says whether it would load.

FILE.wasm, a module file: write the signature file FILE.wasm.sig beside it
(covering FILE.json too when present). Copy it wherever FILE.wasm goes: into
the plugins directory beside it, or beside its URL for load_plugin.

REF, a processor pushed with 'neuron plugin push': attach the signature to
the artifact in its registry as an OCI referrer (artifact type
application/vnd.neuron.processor.signature.v1+json), which neurons pull with
it; the artifact's digest does not change. Print that digest.

Either way, signatures of other keys are kept, so that a processor can carry
the old and the new key's signature while a key is rotated.

` + registryHelp + `
Flags:
  --key KEY.key   the private key to sign with (required)
  --insecure      reach REF's registry over plain HTTP (a registry without TLS off loopback)
`

// defaultKeyPrefix is where `neuron plugin keygen` writes without --out.
const defaultKeyPrefix = "neuron-signing"

func keygenFlags(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
	prefix := fs.String("out", defaultKeyPrefix, "write the keys to `PREFIX`.key and PREFIX.pub")
	return func(_ context.Context, _ []string, stdout, stderr io.Writer) int {
		priv, pub := *prefix+".key", *prefix+".pub"
		key, err := signature.GenerateKey(priv, pub)
		if err != nil {
			fmt.Fprintf(stderr, "neuron plugin keygen: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "key %s\nprivate key %s (keep it secret, off the neurons)\npublic key  %s (trust it: trustedKeys or NEURON_TRUSTED_KEYS)\n",
			signature.KeyID(key), priv, pub)
		return exitOK
	}
}

// signFlags signs a module file (FILE.wasm.sig beside it) or, when the
// argument is not a file, the artifact a registry reference names.
func signFlags(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
	keyPath := fs.String("key", "", "sign with the private key in `KEY.key`")
	client := registryFlags(fs)
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		target := args[0]
		if *keyPath == "" {
			fmt.Fprintf(stderr, "neuron plugin sign: --key is required\n\n%s", signUsage)
			return exitUsage
		}
		st, err := os.Stat(target)
		if err != nil && strings.HasSuffix(target, ".wasm") {
			fmt.Fprintf(stderr, "neuron plugin sign: %v\n", err)
			return exitFailure
		}
		if err != nil { // not a file: a registry reference
			return signRef(ctx, client(target), target, *keyPath, stdout, stderr)
		}
		if !st.Mode().IsRegular() {
			fmt.Fprintf(stderr, "neuron plugin sign: %s is a %s: give a module file FILE.wasm or a registry reference\n", target, st.Mode().Type())
			return exitFailure
		}
		key, err := signature.LoadPrivateKey(*keyPath)
		if err == nil {
			err = signModuleFile(target, key, stdout)
		}
		if err != nil {
			fmt.Fprintf(stderr, "neuron plugin sign: %v\n", err)
			return exitFailure
		}
		return exitOK
	}
}

// signModuleFile adds key's signature of the module at path (and its
// sidecar) to the signature file beside it, and says so on stdout.
func signModuleFile(path string, key ed25519.PrivateKey, stdout io.Writer) error {
	f, err := modfile.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	sigPath := signature.Path(path)
	var sf signature.File
	switch {
	case f.SigErr != nil:
		return f.SigErr
	case f.Sig != nil:
		old, err := signature.Parse(f.Sig)
		if err != nil {
			return fmt.Errorf("%s: %w: remove it, or fix it, before signing again", sigPath, err)
		}
		sf = *old
	}
	sf.Sign(key, f.Subject())
	if err := atomicfile.Write(sigPath, sf.Marshal()); err != nil {
		return fmt.Errorf("write %s: %w", sigPath, err)
	}
	covers := "the module"
	if f.Sidecar != nil {
		covers += " and " + filepath.Base(modfile.SidecarPath(path))
	}
	fmt.Fprintf(stdout, "signed %s (%s) with key %s: %s holds %s\n", path, covers, signature.KeyID(key.Public().(ed25519.PublicKey)),
		sigPath, plural(len(sf.Signatures), "signature"))
	return nil
}
