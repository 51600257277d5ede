package oci

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/empirefederation/neuron/internal/modfile"
	"github.com/empirefederation/neuron/internal/signature"
	"github.com/empirefederation/neuron/internal/testutil"
)

// newClient is a client that reads credentials from a config file of its
// own (none, unless the test writes it).
func newClient(t *testing.T) *Client {
	return &Client{DockerConfig: filepath.Join(t.TempDir(), "config.json")}
}

// module is a stand-in for a module's bytes: the registry does not look
// into them.
func module(version string) []byte { return append([]byte("\x00asm\x01\x00\x00\x00"), version...) }

func processor(version string) Processor {
	return Processor{
		Module:  module(version),
		Sidecar: []byte(`{"name":"echo","version":"` + version + `"}`),
		Name:    "echo", Version: version, Description: "echoes its request",
	}
}

func TestPushPull(t *testing.T) {
	host := testutil.Registry(t, nil)
	c := newClient(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		p    Processor
	}{
		{"with sidecar", processor("1.0.0")},
		{"without sidecar", Processor{Module: module("bare"), Name: "bare", Version: "0.1.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := host + "/processors/" + tc.p.Name + ":" + tc.p.Version
			d, err := c.Push(ctx, ref, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(d, "sha256:") {
				t.Fatalf("digest %q", d)
			}
			for _, pullRef := range []string{ref, host + "/processors/" + tc.p.Name + "@" + d} {
				got, err := c.Pull(ctx, pullRef)
				if err != nil {
					t.Fatal(err)
				}
				want := Pulled{Processor: tc.p, Ref: pullRef, Digest: d}
				if !equalPulled(got, &want) {
					t.Errorf("Pull(%s) = %+v, want %+v", pullRef, got, want)
				}
				if got.Signature != nil {
					t.Errorf("unsigned artifact pulled with signature %s", got.Signature)
				}
			}
			if r, err := c.Resolve(ctx, ref); err != nil || r != d {
				t.Errorf("Resolve = %q, %v; want %q", r, err, d)
			}
		})
	}
}

func equalPulled(a, b *Pulled) bool {
	return bytes.Equal(a.Module, b.Module) && bytes.Equal(a.Sidecar, b.Sidecar) && (a.Sidecar == nil) == (b.Sidecar == nil) &&
		a.Name == b.Name && a.Version == b.Version && a.Description == b.Description && a.Ref == b.Ref && a.Digest == b.Digest
}

// TestPushLayout reads the pushed manifest and config as the registry
// serves them: the layout of the CNCF Wasm OCI artifact specification.
func TestPushLayout(t *testing.T) {
	host := testutil.Registry(t, nil)
	p := processor("1.2.3")
	d, err := newClient(t).Push(context.Background(), host+"/processors/echo:1.2.3", p)
	if err != nil {
		t.Fatal(err)
	}
	raw := get(t, "http://"+host+"/v2/processors/echo/manifests/1.2.3", ocispec.MediaTypeImageManifest)
	if got := digest.FromBytes(raw).String(); got != d {
		t.Fatalf("manifest digest %s, Push returned %s", got, d)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest || m.ArtifactType != ConfigMediaType || m.Config.MediaType != ConfigMediaType {
		t.Errorf("manifest media type %q, artifactType %q, config %q", m.MediaType, m.ArtifactType, m.Config.MediaType)
	}
	if len(m.Layers) != 2 || m.Layers[0].MediaType != ModuleMediaType || m.Layers[1].MediaType != ManifestMediaType {
		t.Fatalf("layers %+v", m.Layers)
	}
	if m.Layers[0].Digest != digest.FromBytes(p.Module) || m.Layers[1].Digest != digest.FromBytes(p.Sidecar) {
		t.Errorf("layer digests %s %s", m.Layers[0].Digest, m.Layers[1].Digest)
	}
	if m.Layers[0].Annotations[ocispec.AnnotationTitle] != "echo.wasm" || m.Layers[1].Annotations[ocispec.AnnotationTitle] != "echo.json" {
		t.Errorf("layer titles %v %v", m.Layers[0].Annotations, m.Layers[1].Annotations)
	}
	for k, want := range map[string]string{
		ocispec.AnnotationTitle: "echo", ocispec.AnnotationVersion: "1.2.3", ocispec.AnnotationDescription: "echoes its request",
		AnnotationName: "echo", AnnotationVersion: "1.2.3", AnnotationDescription: "echoes its request",
	} {
		if got := m.Annotations[k]; got != want {
			t.Errorf("annotation %s = %q, want %q", k, got, want)
		}
	}
	var cfg struct {
		Created      string   `json:"created"`
		Architecture string   `json:"architecture"`
		OS           string   `json:"os"`
		LayerDigests []string `json:"layerDigests"`
	}
	if err := json.Unmarshal(get(t, "http://"+host+"/v2/processors/echo/blobs/"+m.Config.Digest.String(), ""), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Architecture != "wasm" || cfg.OS != "wasip1" || len(cfg.LayerDigests) != 1 || cfg.LayerDigests[0] != m.Layers[0].Digest.String() ||
		cfg.Created != m.Annotations[ocispec.AnnotationCreated] || cfg.Created == "" {
		t.Errorf("config %+v, created annotation %q", cfg, m.Annotations[ocispec.AnnotationCreated])
	}
}

func get(t *testing.T, url, accept string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v: %s", url, resp.Status, err, b)
	}
	return b
}

func TestPullRefused(t *testing.T) {
	host := testutil.Registry(t, nil)
	c := newClient(t)
	ctx := context.Background()
	d, err := c.Push(ctx, host+"/processors/echo:1", processor("1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	other := digest.FromString("another artifact").String()
	for _, tc := range []struct{ ref, want string }{
		{host + "/processors/echo@" + other, host + "/processors/echo@" + other + " not found in the registry"},
		{host + "/processors/echo:2", host + "/processors/echo:2 not found in the registry"},
		{host + "/processors/nothing:1", "not found in the registry"},
		{"echo:1", `"echo:1" is not an OCI reference (want HOST/REPOSITORY:TAG or HOST/REPOSITORY@sha256:DIGEST)`},
		{host + "/processors/echo@sha256:abc", "is not an OCI reference"},
	} {
		if _, err := c.Pull(ctx, tc.ref); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Pull(%s) = %v, want an error saying %q", tc.ref, err, tc.want)
		}
	}
	// Pushing by a digest that is not the artifact's is refused before
	// anything is pushed.
	if _, err := c.Push(ctx, host+"/processors/echo@"+d, processor("9.9.9")); err == nil || !strings.Contains(err.Error(), "the artifact's digest is sha256:") {
		t.Errorf("push by a wrong digest: %v", err)
	}
	for _, p := range []Processor{{Module: module("1"), Name: "No Name"}, {Name: "echo"}} {
		if _, err := c.Push(ctx, host+"/processors/echo:3", p); err == nil {
			t.Errorf("pushed %+v", p)
		}
	}
}

// TestMovedTag pushes a new version to the same tag: the tag names it,
// the old digest still names the old one.
func TestMovedTag(t *testing.T) {
	host := testutil.Registry(t, nil)
	c := newClient(t)
	ctx := context.Background()
	ref := host + "/processors/echo:stable"
	d1, err := c.Push(ctx, ref, processor("1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	d2, err := c.Push(ctx, ref, processor("2.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if d1 == d2 {
		t.Fatal("two versions pushed with one digest")
	}
	if r, err := c.Resolve(ctx, ref); err != nil || r != d2 {
		t.Errorf("Resolve = %s, %v; want %s", r, err, d2)
	}
	if p, err := c.Pull(ctx, ref); err != nil || p.Digest != d2 || p.Version != "2.0.0" {
		t.Errorf("Pull by the moved tag = %+v, %v", p, err)
	}
	if p, err := c.Pull(ctx, host+"/processors/echo@"+d1); err != nil || p.Version != "1.0.0" {
		t.Errorf("Pull by the old digest = %+v, %v", p, err)
	}
}

func TestCredentials(t *testing.T) {
	host := testutil.Registry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "ops" || p != "s3cret" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	dockerConfig := func(user, pass string) string {
		dir := t.TempDir()
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
		b, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"auth": auth}}})
		if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	ctx := context.Background()
	ref := host + "/processors/echo:1"
	good := &Client{DockerConfig: filepath.Join(dockerConfig("ops", "s3cret"), "config.json")}
	d, err := good.Push(ctx, ref, processor("1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	// DOCKER_CONFIG names the directory of the file read when the client
	// names none.
	t.Setenv("DOCKER_CONFIG", dockerConfig("ops", "s3cret"))
	if p, err := (&Client{}).Pull(ctx, ref); err != nil || p.Digest != d {
		t.Errorf("pull with DOCKER_CONFIG: %+v, %v", p, err)
	}
	for _, tc := range []struct {
		name string
		c    *Client
		want string
	}{
		{"wrong password", &Client{DockerConfig: filepath.Join(dockerConfig("ops", "guess"), "config.json")},
			"the registry refused the credentials for " + host + ": run docker login " + host},
		{"none", newClient(t), "the registry " + host + " requires credentials and there are none for it: run docker login " + host},
	} {
		name, c, want := tc.name, tc.c, tc.want
		if _, err := c.Pull(ctx, ref); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Pull = %v, want an error saying %q", name, err, want)
		}
		if _, err := c.Push(ctx, ref, processor("1.0.1")); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Push = %v, want an error saying %q", name, err, want)
		}
	}
}

func TestRegistryDown(t *testing.T) {
	c := newClient(t)
	host := testutil.ClosedAddr(t)
	for _, op := range []func() error{
		func() error { _, err := c.Pull(context.Background(), host+"/processors/echo:1"); return err },
		func() error { _, err := c.Resolve(context.Background(), host+"/processors/echo:1"); return err },
		func() error {
			_, err := c.Push(context.Background(), host+"/processors/echo:1", processor("1"))
			return err
		},
	} {
		if err := op(); err == nil || !strings.Contains(err.Error(), "registry "+host+" is unreachable") {
			t.Errorf("got %v, want an error saying the registry is unreachable", err)
		}
	}
}

func TestHostsAllowList(t *testing.T) {
	host := testutil.Registry(t, nil)
	c := newClient(t)
	c.Hosts = []string{"registry.example"}
	if _, err := c.Pull(context.Background(), host+"/processors/echo:1"); err == nil ||
		!strings.Contains(err.Error(), "registry "+host+" is not among the hosts this neuron may reach (registry.example)") {
		t.Errorf("Pull from a host off the list: %v", err)
	}
	c.Hosts = append(c.Hosts, host)
	if _, err := c.Push(context.Background(), host+"/processors/echo:1", processor("1")); err != nil {
		t.Errorf("Push to a listed host: %v", err)
	}
}

func TestPlainHTTP(t *testing.T) {
	c := &Client{Insecure: []string{"registry.example:5000", "lab.example"}}
	for _, tc := range []struct {
		host  string
		plain bool
	}{
		{"127.0.0.1:5000", true},
		{"127.1.2.3", true},
		{"localhost:5000", true},
		{"LOCALHOST", true},
		{"[::1]:5000", true},
		{"registry.example:5000", true},
		{"registry.example", false},
		{"registry.example:443", false},
		{"lab.example:8080", true},
		{"10.0.0.1:5000", false},
		{"localhost.example", false},
	} {
		_, repo, err := c.repository(tc.host + "/processors/echo:1")
		if err != nil {
			t.Fatal(err)
		}
		if repo.PlainHTTP != tc.plain {
			t.Errorf("%s: PlainHTTP = %v, want %v", tc.host, repo.PlainHTTP, tc.plain)
		}
	}
}

func TestPullNotAProcessor(t *testing.T) {
	host := testutil.Registry(t, nil)
	wasmConfig := []byte(`{"architecture":"wasm","os":"wasip1"}`)
	imageConfig := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	for _, tc := range []struct {
		name         string
		artifactType string
		config       ocispec.Descriptor
		configData   []byte
		layers       map[string][]byte
		want         string
	}{
		{"container image", "", content.NewDescriptorFromBytes(ocispec.MediaTypeImageConfig, imageConfig), imageConfig,
			map[string][]byte{ocispec.MediaTypeImageLayerGzip: []byte("not really a tarball")},
			`its config media type is "application/vnd.oci.image.config.v1+json" (want application/vnd.wasm.config.v0+json)`},
		{"other artifact", "application/vnd.example.thing", ocispec.Descriptor{}, nil,
			map[string][]byte{"application/vnd.example.thing.layer": []byte("thing")},
			`its config media type is "application/vnd.oci.empty.v1+json" (want application/vnd.wasm.config.v0+json)`},
		{"wasm without module", ConfigMediaType, content.NewDescriptorFromBytes(ConfigMediaType, wasmConfig), wasmConfig,
			map[string][]byte{ManifestMediaType: []byte("{}")}, "it has no module layer (application/wasm)"},
		{"wasm with an extra layer", ConfigMediaType, content.NewDescriptorFromBytes(ConfigMediaType, wasmConfig), wasmConfig,
			map[string][]byte{ModuleMediaType: module("1"), "text/plain": []byte("readme")}, `it has a layer of media type "text/plain", which a processor has not`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := host + "/things/" + strings.ReplaceAll(tc.name, " ", "-") + ":1"
			testutil.PushArtifact(t, ref, tc.artifactType, tc.config, tc.configData, tc.layers)
			_, err := newClient(t).Pull(context.Background(), ref)
			want := ref + " is not a neuron processor: " + tc.want
			if err == nil || !strings.Contains(err.Error(), want) || !strings.HasSuffix(err.Error(), "; push processors with neuron plugin push") {
				t.Errorf("Pull = %v, want an error saying %q", err, want)
			}
		})
	}
}

func TestSign(t *testing.T) {
	host := testutil.Registry(t, nil)
	c := newClient(t)
	ctx := context.Background()
	ref := host + "/processors/echo:1"
	d, err := c.Push(ctx, ref, processor("1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	pub1, key1 := newKey(t)
	pub2, key2 := newKey(t)
	pub3, _ := newKey(t)

	p, err := c.Pull(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := signature.NewVerifier(pub1).Verify(p.Subject(), p.Signature); !errors.Is(err, signature.ErrUnsigned) {
		t.Errorf("unsigned: Verify = %v, want ErrUnsigned", err)
	}

	if got, err := c.Sign(ctx, ref, key1); err != nil || got != d {
		t.Fatalf("Sign = %s, %v; want %s", got, err, d)
	}
	p, err = c.Pull(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := signature.NewVerifier(pub1).Verify(p.Subject(), p.Signature); err != nil {
		t.Errorf("signed by key 1: %v", err)
	}
	if err := signature.NewVerifier(pub2).Verify(p.Subject(), p.Signature); err == nil {
		t.Error("a signature by key 1 verified with key 2")
	}

	// A second key (rotation) adds a second referrer; Pull merges both.
	if _, err := c.Sign(ctx, host+"/processors/echo@"+d, key2); err != nil {
		t.Fatal(err)
	}
	// Referrers that are not signature files are skipped.
	pushReferrer(t, host+"/processors/echo", d, []byte("not a signature file"))
	pushReferrer(t, host+"/processors/echo", d, []byte(`{"signatures":[]}`))
	p, err = c.Pull(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	f, err := signature.Parse(p.Signature)
	if err != nil || len(f.Signatures) != 2 {
		t.Fatalf("merged signature file %s: %v", p.Signature, err)
	}
	for _, pub := range []ed25519.PublicKey{pub1, pub2} {
		if err := signature.NewVerifier(pub, pub3).Verify(p.Subject(), p.Signature); err != nil {
			t.Errorf("key %s: %v", signature.KeyID(pub), err)
		}
	}
	if err := signature.NewVerifier(pub3).Verify(p.Subject(), p.Signature); err == nil {
		t.Error("verified by a key that signed nothing")
	}

	// A signature by key 1 of another module does not verify this one.
	host2 := testutil.Registry(t, nil)
	d2, err := c.Push(ctx, host2+"/processors/echo:1", processor("1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	var forged signature.File
	forged.Sign(key1, (&Processor{Module: module("evil"), Sidecar: processor("1.0.0").Sidecar}).Subject())
	pushReferrer(t, host2+"/processors/echo", d2, forged.Marshal())
	p, err = c.Pull(ctx, host2+"/processors/echo:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := signature.NewVerifier(pub1).Verify(p.Subject(), p.Signature); !errors.Is(err, signature.ErrBadSignature) {
		t.Errorf("signature of another module: Verify = %v", err)
	}

	if _, err := c.Sign(ctx, host+"/processors/nothing:1", key1); err == nil || !strings.Contains(err.Error(), "not found in the registry") {
		t.Errorf("Sign of nothing: %v", err)
	}
}

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, key
}

// pushReferrer pushes a signature referrer of the artifact with digest d
// whose layer is file, as a tampering party could.
func pushReferrer(t *testing.T, repoRef, d string, file []byte) {
	t.Helper()
	ctx := context.Background()
	repo, err := remote.NewRepository(repoRef)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	subject, err := repo.Resolve(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	layer, err := oras.PushBytes(ctx, repo, SignatureArtifactType, file)
	if err != nil {
		t.Fatal(err)
	}
	config, err := oras.PushBytes(ctx, repo, SignatureArtifactType, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, SignatureArtifactType, oras.PackManifestOptions{
		Subject: &subject, ConfigDescriptor: &config, Layers: []ocispec.Descriptor{layer},
	}); err != nil {
		t.Fatal(err)
	}
}

func TestParseArtifact(t *testing.T) {
	layer := func(mt string, size int64) string {
		return `{"mediaType":"` + mt + `","digest":"` + digest.FromString(mt).String() + `","size":` + jsonInt(size) + `}`
	}
	manifest := func(config string, layers ...string) []byte {
		return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"` + config +
			`","digest":"` + digest.FromString("c").String() + `","size":2},"layers":[` + strings.Join(layers, ",") + `]}`)
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		want string // "" for a processor
	}{
		{"module", manifest(ConfigMediaType, layer(ModuleMediaType, 10)), ""},
		{"module and sidecar", manifest(ConfigMediaType, layer(ModuleMediaType, 10), layer(ManifestMediaType, 10)), ""},
		{"largest module", manifest(ConfigMediaType, layer(ModuleMediaType, modfile.MaxBytes)), ""},
		{"module too large", manifest(ConfigMediaType, layer(ModuleMediaType, modfile.MaxBytes+1)), "its module layer is 268435457 bytes, more than the 268435456 a module may have"},
		{"negative size", manifest(ConfigMediaType, layer(ModuleMediaType, -1)), "its module layer is -1 bytes"},
		{"sidecar too large", manifest(ConfigMediaType, layer(ModuleMediaType, 1), layer(ManifestMediaType, maxSidecarBytes+1)), "its manifest layer is 1048577 bytes"},
		{"two modules", manifest(ConfigMediaType, layer(ModuleMediaType, 1), layer(ModuleMediaType, 2)), "it has 2 module layers"},
		{"two sidecars", manifest(ConfigMediaType, layer(ModuleMediaType, 1), layer(ManifestMediaType, 1), layer(ManifestMediaType, 1)), "more than one manifest layer"},
		{"no layers", manifest(ConfigMediaType), "it has no module layer"},
		{"image config", manifest(ocispec.MediaTypeImageConfig, layer(ModuleMediaType, 1)), "its config media type is"},
		{"bad digest", []byte(`{"config":{"mediaType":"` + ConfigMediaType + `"},"layers":[{"mediaType":"application/wasm","digest":"md5:x","size":1}]}`), "layer md5:x"},
		{"index", []byte(`{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`), "its manifest is a application/vnd.oci.image.index.v1+json"},
		{"not JSON", []byte("<html>"), "its manifest is not JSON"},
	} {
		_, err := parseArtifact(tc.raw)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: parseArtifact = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func FuzzParseArtifact(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.wasm.config.v0+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/wasm","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}]}`))
	f.Add([]byte(`{"layers":[{"mediaType":"application/wasm","size":-1}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := parseArtifact(raw)
		if err != nil {
			return
		}
		if a.Config.MediaType != ConfigMediaType || a.module.MediaType != ModuleMediaType || a.module.Size > modfile.MaxBytes || a.module.Size < 0 {
			t.Fatalf("accepted %s as %+v", raw, a)
		}
		if a.module.Digest.Validate() != nil {
			t.Fatalf("accepted module digest %q", a.module.Digest)
		}
		if a.sidecar != nil && (a.sidecar.Size > maxSidecarBytes || a.sidecar.Size < 0 || a.sidecar.MediaType != ManifestMediaType) {
			t.Fatalf("accepted sidecar %+v", a.sidecar)
		}
		if len(a.Layers) > 2 {
			t.Fatalf("accepted %d layers", len(a.Layers))
		}
	})
}

// TestPullLyingRegistry pulls by digest from a registry that answers with
// another artifact's manifest: refused, whether or not it lies about the
// digest too.
func TestPullLyingRegistry(t *testing.T) {
	var from, to string // manifest digests: requests for from get to's
	var lieHeader bool
	host := testutil.Registry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if from != "" && strings.HasSuffix(r.URL.Path, "/manifests/"+from) {
				r.URL.Path = strings.TrimSuffix(r.URL.Path, from) + to
				if lieHeader {
					w = &digestLiar{ResponseWriter: w, digest: from}
				}
			}
			h.ServeHTTP(w, r)
		})
	})
	c := newClient(t)
	ctx := context.Background()
	d1, err := c.Push(ctx, host+"/processors/echo:1", processor("1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	d2, err := c.Push(ctx, host+"/processors/echo:2", processor("2.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	from, to = d1, d2
	for _, lie := range []bool{false, true} {
		lieHeader = lie
		p, err := c.Pull(ctx, host+"/processors/echo@"+d1)
		if err == nil || !strings.Contains(err.Error(), "digest mismatch") && !strings.Contains(err.Error(), "the registry answered content that is not what the digest names") {
			t.Errorf("lying about the header %v: Pull = %+v, %v; want a digest mismatch", lie, p, err)
		}
	}
}

// digestLiar sets the Docker-Content-Digest header to digest.
type digestLiar struct {
	http.ResponseWriter
	digest string
}

func (l *digestLiar) WriteHeader(code int) {
	l.Header().Set("Docker-Content-Digest", l.digest)
	l.ResponseWriter.WriteHeader(code)
}

func TestPin(t *testing.T) {
	d := digest.FromString("x").String()
	for _, tc := range []struct{ ref, digest, want, err string }{
		{"registry.example/team/hello:1.0.0", d, "registry.example/team/hello@" + d, ""},
		{"127.0.0.1:5000/hello", d, "127.0.0.1:5000/hello@" + d, ""},
		{"registry.example/hello@" + digest.FromString("y").String(), d, "registry.example/hello@" + d, ""},
		{"hello:1", d, "", "is not an OCI reference"},
		{"registry.example/hello:1", "latest", "", `"latest" is not a digest`},
	} {
		got, err := Pin(tc.ref, tc.digest)
		if got != tc.want || tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Pin(%q, %q) = %q, %v; want %q, %q", tc.ref, tc.digest, got, err, tc.want, tc.err)
		}
	}
}

// TestSignWithoutReferrersAPI signs and pulls through a registry that
// has no referrers API: oras-go keeps the referrers in the fallback tag
// index (sha256-DIGEST), and they are found there.
func TestSignWithoutReferrersAPI(t *testing.T) {
	host := testutil.Registry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/referrers/") {
				http.NotFound(w, r)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	c := newClient(t)
	ctx := context.Background()
	ref := host + "/processors/echo:1"
	if _, err := c.Push(ctx, ref, processor("1.0.0")); err != nil {
		t.Fatal(err)
	}
	if p, err := c.Pull(ctx, ref); err != nil || p.Signature != nil {
		t.Fatalf("Pull of the unsigned artifact = %+v, %v", p, err)
	}
	pub, key := newKey(t)
	if _, err := c.Sign(ctx, ref, key); err != nil {
		t.Fatal(err)
	}
	p, err := c.Pull(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := signature.NewVerifier(pub).Verify(p.Subject(), p.Signature); err != nil {
		t.Errorf("signed through the fallback tag index: %v", err)
	}
}

// TestTimeout pulls from a registry that never answers: the client's
// timeout ends the pull with an error that says so.
func TestTimeout(t *testing.T) {
	host := testutil.Registry(t, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	})
	c := newClient(t)
	c.Timeout = time.Second
	if _, err := c.Pull(context.Background(), host+"/processors/echo:1"); err == nil || !strings.Contains(err.Error(), "the registry did not answer within 1s") {
		t.Errorf("Pull = %v, want an error saying the registry did not answer in time", err)
	}
}
