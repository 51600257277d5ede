// Package oci pushes processors to OCI registries and pulls them back, as
// Wasm artifacts in the layout of the CNCF Wasm OCI artifact
// specification: a config of type ConfigMediaType, the module as a layer
// of type ModuleMediaType, and the sidecar manifest, when the processor
// has one, as a layer of type ManifestMediaType. Signatures (see
// internal/signature) are OCI referrers of the artifact, of type
// SignatureArtifactType. It is built on oras-go.
package oci

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"time"
)

// Media types of a processor artifact.
const (
	// ConfigMediaType is the config of a Wasm artifact (CNCF Wasm OCI
	// artifact specification), also the manifest's artifactType.
	ConfigMediaType = "application/vnd.wasm.config.v0+json"
	// ModuleMediaType is the layer that holds the module.
	ModuleMediaType = "application/wasm"
	// ManifestMediaType is the layer that holds the sidecar manifest.
	ManifestMediaType = "application/vnd.neuron.processor.manifest.v1+json"
	// SignatureArtifactType is a referrer holding a signature file.
	SignatureArtifactType = "application/vnd.neuron.processor.signature.v1+json"
)

// Client reaches OCI registries.
type Client struct {
	// Insecure lists the registries ("host" or "host:port") reached over
	// plain HTTP besides loopback ones, which always are.
	Insecure []string
	// Hosts, when not empty, are the only registries the client may reach.
	Hosts []string
	// DockerConfig is the Docker config file credentials are read from;
	// "" is $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
	DockerConfig string
	// Timeout bounds one push, pull or resolve. Default 2 minutes.
	Timeout time.Duration
	// Log receives what the registry answered when an operation fails.
	Log *slog.Logger
}

// Processor is what an artifact carries.
type Processor struct {
	Module  []byte
	Sidecar []byte // nil when the processor has none
	// Signature is the signature file (internal/signature) made of every
	// signature referrer of the artifact, nil when there is none. Push
	// ignores it.
	Signature []byte
	// Name, Version and Description are the processor's, from the
	// artifact's annotations.
	Name, Version, Description string
}

// Pulled is a processor as pulled.
type Pulled struct {
	Processor
	// Ref is the reference as asked; Digest the artifact manifest's
	// ("sha256:...").
	Ref, Digest string
}

// Push pushes p to ref and returns the artifact's digest.
func (c *Client) Push(ctx context.Context, ref string, p Processor) (digest string, err error) {
	panic("unimplemented")
}

// Resolve returns the digest ref names now.
func (c *Client) Resolve(ctx context.Context, ref string) (digest string, err error) {
	panic("unimplemented")
}

// Pull fetches the processor at ref with its signatures, and checks it is
// one: a digest in ref must match, the media types must be a processor's,
// sizes are bounded.
func (c *Client) Pull(ctx context.Context, ref string) (*Pulled, error) {
	panic("unimplemented")
}

// Sign attaches key's signature of the processor at ref as a referrer and
// returns the digest of the artifact signed.
func (c *Client) Sign(ctx context.Context, ref string, key ed25519.PrivateKey) (digest string, err error) {
	panic("unimplemented")
}
