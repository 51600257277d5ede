// Package oci pushes processors to OCI registries and pulls them back, as
// Wasm artifacts in the layout of the CNCF Wasm OCI artifact
// specification: a config of type ConfigMediaType, the module as a layer
// of type ModuleMediaType, and the sidecar manifest, when the processor
// has one, as a layer of type ManifestMediaType. Signatures (see
// internal/signature) are OCI referrers of the artifact, of type
// SignatureArtifactType. It is built on oras-go.
//
// Every read is bounded: the manifest (maxManifestBytes), the module
// (modfile.MaxBytes, what the neuron reads of a module file), the sidecar
// (maxSidecarBytes), the signature referrers (maxReferrers) and their
// files (signature.MaxFileBytes); and every blob is checked against its
// digest and size as it is read. Registries are reached over HTTPS but on
// loopback and for the hosts in Client.Insecure. See docs/design.md,
// "Why oras-go for registries?", "Why is the sidecar manifest a second
// layer?", "Why are signatures OCI referrers?" and "Why plain HTTP only for
// loopback and insecureRegistries?".
package oci

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/empirefederation/neuron/internal/hostlist"
	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/signature"
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
	// SignatureArtifactType is a referrer holding a signature file: its
	// artifactType, its config's media type and its one layer's.
	SignatureArtifactType = "application/vnd.neuron.processor.signature.v1+json"
)

// Annotations of a processor artifact's manifest that are neuron's own,
// beside the standard org.opencontainers.image.* ones (title, version,
// description, created) that registries and their user interfaces show.
// Pull reads these, so that a standard key some tool rewrote does not
// rename a processor.
const (
	AnnotationName        = "com.github.empirefederation.neuron.processor.name"
	AnnotationVersion     = "com.github.empirefederation.neuron.processor.version"
	AnnotationDescription = "com.github.empirefederation.neuron.processor.description"
)

// Bounds of what Pull reads.
const (
	// maxManifestBytes bounds an artifact's manifest and a signature
	// referrer's: a processor's has three descriptors and a few
	// annotations.
	maxManifestBytes = 4 << 20
	// maxSidecarBytes bounds the sidecar manifest layer.
	maxSidecarBytes = 1 << 20
	// maxReferrers bounds the signature referrers Pull reads.
	maxReferrers = 16
)

// DefaultTimeout bounds one operation when Client.Timeout is zero.
const DefaultTimeout = 2 * time.Minute

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
	// Timeout bounds one push, pull or resolve. Default DefaultTimeout.
	Timeout time.Duration
	// Log receives what the registry answered when an operation fails.
	Log *slog.Logger
	// UserAgent is sent with every request; "" is "neuron". The neuron
	// sends "neuron/VERSION".
	UserAgent string
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

// Subject is what a signature of p covers.
func (p *Processor) Subject() signature.Subject {
	s := signature.Subject{Module: digest.FromBytes(p.Module).Encoded()}
	if p.Sidecar != nil {
		s.Sidecar = digest.FromBytes(p.Sidecar).Encoded()
	}
	return s
}

// Pulled is a processor as pulled.
type Pulled struct {
	Processor
	// Ref is the reference as asked; Digest the artifact manifest's
	// ("sha256:...").
	Ref, Digest string
}

// wasmConfig is the config of a Wasm artifact (CNCF Wasm OCI artifact
// specification).
type wasmConfig struct {
	Created      string   `json:"created"`
	Author       string   `json:"author,omitempty"`
	Architecture string   `json:"architecture"`
	OS           string   `json:"os"`
	LayerDigests []string `json:"layerDigests"`
}

// Push pushes p to ref and returns the artifact's digest. A ref with a tag
// is tagged; one with a digest only is pushed by digest (which must be the
// artifact's).
func (c *Client) Push(ctx context.Context, ref string, p Processor) (digest string, err error) {
	ctx, cancel := c.context(ctx)
	defer cancel()
	r, repo, err := c.repository(ref)
	if err != nil {
		return "", err
	}
	switch {
	case !modfile.ValidName(p.Name):
		return "", fmt.Errorf("push %s: %q is not a processor name", ref, p.Name)
	case len(p.Module) == 0:
		return "", fmt.Errorf("push %s: the processor has no module", ref)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	module := content.NewDescriptorFromBytes(ModuleMediaType, p.Module)
	module.Annotations = map[string]string{ocispec.AnnotationTitle: p.Name + ".wasm"}
	cfg, _ := json.Marshal(wasmConfig{Created: now, Architecture: "wasm", OS: "wasip1", LayerDigests: []string{module.Digest.String()}})
	config := content.NewDescriptorFromBytes(ConfigMediaType, cfg)
	layers := []blob{{module, p.Module}}
	if p.Sidecar != nil {
		sidecar := content.NewDescriptorFromBytes(ManifestMediaType, p.Sidecar)
		sidecar.Annotations = map[string]string{ocispec.AnnotationTitle: p.Name + ".json"}
		layers = append(layers, blob{sidecar, p.Sidecar})
	}
	annotations := map[string]string{ocispec.AnnotationCreated: now}
	for k, v := range map[string]string{
		ocispec.AnnotationTitle: p.Name, AnnotationName: p.Name,
		ocispec.AnnotationVersion: p.Version, AnnotationVersion: p.Version,
		ocispec.AnnotationDescription: p.Description, AnnotationDescription: p.Description,
	} {
		if v != "" {
			annotations[k] = v
		}
	}
	// The manifest is packed into memory first, so that a digest in ref
	// is checked before anything is pushed; it is pushed last, once, under
	// the ref's tag or digest.
	mem := memory.New()
	desc, err := oras.PackManifest(ctx, mem, oras.PackManifestVersion1_1, ConfigMediaType, oras.PackManifestOptions{
		ConfigDescriptor: &config, Layers: descriptors(layers), ManifestAnnotations: annotations,
	})
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	manifest, err := content.FetchAll(ctx, mem, desc)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	if d, err := r.Digest(); err == nil && d != desc.Digest {
		return "", fmt.Errorf("push %s: the artifact's digest is %s: push by tag, or by its own digest", ref, desc.Digest)
	}
	if err := pushBlobs(ctx, repo, append([]blob{{config, cfg}}, layers...)); err != nil {
		return "", c.explain(r, "push", err)
	}
	if err := repo.PushReference(ctx, desc, bytes.NewReader(manifest), r.ReferenceOrDefault()); err != nil {
		return "", c.explain(r, "push", err)
	}
	return desc.Digest.String(), nil
}

// blob is a blob to push.
type blob struct {
	desc ocispec.Descriptor
	data []byte
}

// pushBlobs pushes the blobs the repository does not have yet.
func pushBlobs(ctx context.Context, repo *remote.Repository, blobs []blob) error {
	for _, b := range blobs {
		if ok, err := repo.Exists(ctx, b.desc); err != nil {
			return err
		} else if ok {
			continue
		}
		if err := repo.Push(ctx, b.desc, bytes.NewReader(b.data)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			return err
		}
	}
	return nil
}

// descriptors are the descriptors of blobs.
func descriptors(blobs []blob) []ocispec.Descriptor {
	ds := make([]ocispec.Descriptor, len(blobs))
	for i, b := range blobs {
		ds[i] = b.desc
	}
	return ds
}

// Resolve returns the digest ref names now.
func (c *Client) Resolve(ctx context.Context, ref string) (digest string, err error) {
	ctx, cancel := c.context(ctx)
	defer cancel()
	r, repo, err := c.repository(ref)
	if err != nil {
		return "", err
	}
	desc, err := repo.Resolve(ctx, r.ReferenceOrDefault())
	if err != nil {
		return "", c.explain(r, "resolve", err)
	}
	return desc.Digest.String(), nil
}

// Pull fetches the processor at ref with its signatures, and checks it is
// one: a digest in ref must match, the media types must be a processor's,
// sizes are bounded.
func (c *Client) Pull(ctx context.Context, ref string) (*Pulled, error) {
	ctx, cancel := c.context(ctx)
	defer cancel()
	r, repo, err := c.repository(ref)
	if err != nil {
		return nil, err
	}
	desc, art, err := fetchArtifact(ctx, repo, r)
	if err != nil {
		return nil, c.explain(r, "pull", err)
	}
	p := &Pulled{Ref: ref, Digest: desc.Digest.String(), Processor: Processor{
		Name:        art.Annotations[AnnotationName],
		Version:     art.Annotations[AnnotationVersion],
		Description: art.Annotations[AnnotationDescription],
	}}
	if !modfile.ValidName(p.Name) {
		return nil, &notProcessor{r, fmt.Sprintf("its annotation %s is %q, not a processor name", AnnotationName, p.Name)}
	}
	if p.Module, err = content.FetchAll(ctx, repo, art.module); err != nil {
		return nil, c.explain(r, "pull", fmt.Errorf("module layer: %w", err))
	}
	if art.sidecar != nil {
		if p.Sidecar, err = content.FetchAll(ctx, repo, *art.sidecar); err != nil {
			return nil, c.explain(r, "pull", fmt.Errorf("manifest layer: %w", err))
		}
	}
	if p.Signature, err = c.signatures(ctx, repo, r, desc); err != nil {
		return nil, c.explain(r, "pull", fmt.Errorf("signatures: %w", err))
	}
	return p, nil
}

// artifact is a processor artifact's manifest, checked by parseArtifact.
type artifact struct {
	ocispec.Manifest
	module  ocispec.Descriptor
	sidecar *ocispec.Descriptor
}

// fetchArtifact fetches and checks the manifest r names.
func fetchArtifact(ctx context.Context, repo *remote.Repository, r registry.Reference) (ocispec.Descriptor, *artifact, error) {
	desc, raw, err := oras.FetchBytes(ctx, repo, r.ReferenceOrDefault(), oras.FetchBytesOptions{MaxBytes: maxManifestBytes})
	if err != nil {
		return desc, nil, err
	}
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		return desc, nil, &notProcessor{r, fmt.Sprintf("its manifest is a %s, not an OCI image manifest", desc.MediaType)}
	}
	art, err := parseArtifact(raw)
	if err != nil {
		return desc, nil, &notProcessor{r, err.Error()}
	}
	return desc, art, nil
}

// notProcessor is the error of an artifact that is not a processor: its
// words say all, explain passes it on as it is.
type notProcessor struct {
	ref registry.Reference
	why string
}

func (e *notProcessor) Error() string {
	return fmt.Sprintf("%s is not a neuron processor: %s; push processors with neuron plugin push", e.ref, e.why)
}

// parseArtifact decodes an image manifest and checks it is a processor
// artifact: config of ConfigMediaType, exactly one module layer, at most
// one sidecar manifest layer, nothing else, each within its bound.
func parseArtifact(raw []byte) (*artifact, error) {
	var a artifact
	if err := json.Unmarshal(raw, &a.Manifest); err != nil {
		return nil, fmt.Errorf("its manifest is not JSON: %w", err)
	}
	if a.MediaType != "" && a.MediaType != ocispec.MediaTypeImageManifest {
		return nil, fmt.Errorf("its manifest is a %s", a.MediaType)
	}
	if a.Config.MediaType != ConfigMediaType {
		return nil, fmt.Errorf("its config media type is %q (want %s)", a.Config.MediaType, ConfigMediaType)
	}
	var modules int
	for _, l := range a.Layers {
		if err := l.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		switch l.MediaType {
		case ModuleMediaType:
			if modules++; modules > 1 {
				return nil, fmt.Errorf("it has %d module layers (%s), want one", modules, ModuleMediaType)
			}
			if l.Size < 0 || l.Size > modfile.MaxBytes {
				return nil, fmt.Errorf("its module layer is %d bytes, more than the %d a module may have", l.Size, modfile.MaxBytes)
			}
			a.module = l
		case ManifestMediaType:
			if a.sidecar != nil {
				return nil, fmt.Errorf("it has more than one manifest layer (%s)", ManifestMediaType)
			}
			if l.Size < 0 || l.Size > maxSidecarBytes {
				return nil, fmt.Errorf("its manifest layer is %d bytes, more than the %d a manifest may have", l.Size, maxSidecarBytes)
			}
			a.sidecar = &l
		default:
			return nil, fmt.Errorf("it has a layer of media type %q, which a processor has not (want %s, and %s for the manifest)", l.MediaType, ModuleMediaType, ManifestMediaType)
		}
	}
	if modules == 0 {
		return nil, fmt.Errorf("it has no module layer (%s)", ModuleMediaType)
	}
	return &a, nil
}

// signatures merges the signature files of the signature referrers of
// desc into one and returns it, nil when there is none. A referrer that
// cannot be read or is not a signature file is skipped with a log line:
// whether the processor is signed enough is the Verifier's to say.
func (c *Client) signatures(ctx context.Context, repo *remote.Repository, r registry.Reference, desc ocispec.Descriptor) ([]byte, error) {
	var refs []ocispec.Descriptor
	err := repo.Referrers(ctx, desc, SignatureArtifactType, func(page []ocispec.Descriptor) error {
		refs = append(refs, page...)
		if len(refs) >= maxReferrers {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, err
	}
	if len(refs) > maxReferrers {
		c.log().Warn("oci: only the first signature referrers are read", "ref", r.String(), "read", maxReferrers, "listed", len(refs))
		refs = refs[:maxReferrers]
	}
	var merged signature.File
	for _, d := range refs {
		f, err := fetchSignature(ctx, repo, d)
		if err != nil {
			c.log().Warn("oci: skipped a signature referrer", "ref", r.String(), "referrer", d.Digest.String(), "err", err)
			continue
		}
		next := signature.File{Signatures: slices.Concat(merged.Signatures, f.Signatures)}
		if _, err := signature.Parse(next.Marshal()); err != nil {
			c.log().Warn("oci: skipped a signature referrer", "ref", r.String(), "referrer", d.Digest.String(), "err", err)
			continue
		}
		merged = next
	}
	if len(merged.Signatures) == 0 {
		return nil, nil
	}
	return merged.Marshal(), nil
}

// errEnough stops listing referrers.
var errEnough = errors.New("enough referrers")

// fetchSignature fetches a signature referrer and its signature file.
func fetchSignature(ctx context.Context, repo *remote.Repository, d ocispec.Descriptor) (*signature.File, error) {
	if d.MediaType != ocispec.MediaTypeImageManifest || d.Size > maxManifestBytes {
		return nil, fmt.Errorf("a %s of %d bytes is not a signature manifest", d.MediaType, d.Size)
	}
	raw, err := content.FetchAll(ctx, repo, d)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.ArtifactType != SignatureArtifactType && m.Config.MediaType != SignatureArtifactType {
		return nil, fmt.Errorf("artifact type %q is not %s", cmp.Or(m.ArtifactType, m.Config.MediaType), SignatureArtifactType)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != SignatureArtifactType || m.Layers[0].Size > signature.MaxFileBytes {
		return nil, fmt.Errorf("want one layer of media type %s of at most %d bytes", SignatureArtifactType, signature.MaxFileBytes)
	}
	b, err := content.FetchAll(ctx, repo, m.Layers[0])
	if err != nil {
		return nil, err
	}
	return signature.Parse(b)
}

// Sign attaches key's signature of the processor at ref as a referrer and
// returns the digest of the artifact signed.
//
// The referrer's config is not the empty descriptor but a "{}" of media
// type SignatureArtifactType: registries that report a referrer's
// artifactType from its config's media type (as some do) then report
// ours too.
func (c *Client) Sign(ctx context.Context, ref string, key ed25519.PrivateKey) (digest string, err error) {
	ctx, cancel := c.context(ctx)
	defer cancel()
	r, repo, err := c.repository(ref)
	if err != nil {
		return "", err
	}
	desc, art, err := fetchArtifact(ctx, repo, r)
	if err != nil {
		return "", c.explain(r, "sign", err)
	}
	subj := signature.Subject{Module: art.module.Digest.Encoded()}
	if art.sidecar != nil {
		subj.Sidecar = art.sidecar.Digest.Encoded()
	}
	var f signature.File
	f.Sign(key, subj)
	file := f.Marshal()
	config := content.NewDescriptorFromBytes(SignatureArtifactType, []byte("{}"))
	layer := content.NewDescriptorFromBytes(SignatureArtifactType, file)
	if err := pushBlobs(ctx, repo, []blob{{config, []byte("{}")}, {layer, file}}); err != nil {
		return "", c.explain(r, "sign", err)
	}
	subject := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
	if _, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, SignatureArtifactType, oras.PackManifestOptions{
		Subject: &subject, ConfigDescriptor: &config, Layers: []ocispec.Descriptor{layer},
	}); err != nil {
		return "", c.explain(r, "sign", err)
	}
	return desc.Digest.String(), nil
}

// Pin is ref's repository at digest, HOST/REPOSITORY@sha256:...: the
// reference that names exactly the artifact Push or Pull returned digest
// for, whatever its tag names later.
func Pin(ref, digest string) (string, error) {
	r, err := registry.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("%q is not an OCI reference: %w", ref, err)
	}
	r.Reference = digest
	if err := r.ValidateReferenceAsDigest(); err != nil {
		return "", fmt.Errorf("%q is not a digest: %w", digest, err)
	}
	return r.String(), nil
}

// context bounds an operation by the client's timeout.
func (c *Client) context(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, cmp.Or(c.Timeout, DefaultTimeout))
}

func (c *Client) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// repository parses ref and returns the repository it names, reached the
// way the client's settings say.
func (c *Client) repository(ref string) (registry.Reference, *remote.Repository, error) {
	r, err := registry.ParseReference(ref)
	if err != nil {
		return r, nil, fmt.Errorf("%q is not an OCI reference (want HOST/REPOSITORY:TAG or HOST/REPOSITORY@sha256:DIGEST): %w", ref, err)
	}
	if len(c.Hosts) > 0 && !hostlist.Match(c.Hosts, r.Registry) {
		return r, nil, fmt.Errorf("registry %s is not among the hosts this neuron may reach (%s): add it to pluginHosts", r.Registry, strings.Join(c.Hosts, ", "))
	}
	store, err := c.credentials()
	if err != nil {
		return r, nil, err
	}
	ua := cmp.Or(c.UserAgent, "neuron")
	repo := &remote.Repository{
		Reference: r,
		PlainHTTP: loopback(r.Registry) || hostlist.Match(c.Insecure, r.Registry),
		Client: &auth.Client{
			Client:     http.DefaultClient,
			Header:     http.Header{"User-Agent": {ua}},
			Credential: credentials.Credential(store),
			Cache:      auth.NewCache(),
		},
		MaxMetadataBytes: maxManifestBytes,
	}
	return r, repo, nil
}

// credentials opens the Docker config file the client reads credentials
// from.
func (c *Client) credentials() (credentials.Store, error) {
	var (
		store credentials.Store
		err   error
	)
	if c.DockerConfig != "" {
		store, err = credentials.NewStore(c.DockerConfig, credentials.StoreOptions{})
	} else {
		store, err = credentials.NewStoreFromDocker(credentials.StoreOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("read registry credentials from %s: %w", c.dockerConfigName(), err)
	}
	return store, nil
}

// dockerConfigName is how an error names the file credentials come from.
func (c *Client) dockerConfigName() string {
	return cmp.Or(c.DockerConfig, "DOCKER_CONFIG or ~/.docker/config.json")
}

// loopback reports whether the registry host is a loopback one: localhost
// or a loopback address, never a name that resolves to one.
func loopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.IsLoopback()
}

// explain turns what oras returned into an error that says what to do,
// and logs what the registry answered.
func (c *Client) explain(r registry.Reference, op string, err error) error {
	c.log().Warn("oci: registry operation failed", "op", op, "ref", r.String(), "err", err)
	var resp *errcode.ErrorResponse
	var np *notProcessor
	switch {
	case errors.As(err, &np):
		return err
	case errors.As(err, &resp) && resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%s %s: the registry refused the credentials for %s: run docker login %s (credentials are read from %s)", op, r, r.Registry, r.Registry, c.dockerConfigName())
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return fmt.Errorf("%s %s: the registry %s requires credentials and there are none for it: run docker login %s (credentials are read from %s)", op, r, r.Registry, r.Registry, c.dockerConfigName())
	case errors.As(err, &resp) && resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%s %s: the registry denied access to %s with these credentials (read from %s): %w", op, r, r.Repository, c.dockerConfigName(), err)
	case errors.Is(err, content.ErrMismatchedDigest), errors.Is(err, content.ErrTrailingData), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s %s: the registry answered content that is not what the digest names (%w): the registry or something on the way changed it; nothing pulled was kept", op, r, err)
	case errors.Is(err, errdef.ErrNotFound):
		return fmt.Errorf("%s %s: %s not found in the registry", op, r, r)
	case errors.Is(err, syscall.ECONNREFUSED), isDial(err):
		return fmt.Errorf("%s %s: registry %s is unreachable: %w", op, r, r.Registry, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s %s: the registry did not answer within %s: %w", op, r, cmp.Or(c.Timeout, DefaultTimeout), err)
	}
	return fmt.Errorf("%s %s: %w", op, r, err)
}

// isDial reports whether err is a failure to reach a host at all.
func isDial(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &dns) || errors.As(err, &op) && op.Op == "dial"
}
