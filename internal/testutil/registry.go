package testutil

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"
)

// Registry starts an OCI registry (go-containerregistry's, in memory, with
// the referrers API) on loopback for the test and returns its host:port,
// which the neuron reaches over plain HTTP. wrap, when not nil, wraps its
// handler: to require credentials, to fail on cue.
func Registry(tb testing.TB, wrap func(http.Handler) http.Handler) string {
	tb.Helper()
	return strings.TrimPrefix(startRegistry(tb, wrap).URL, "http://")
}

// startRegistry is Registry, returning the server.
func startRegistry(tb testing.TB, wrap func(http.Handler) http.Handler) *httptest.Server {
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv
}

// RegistryServer is a Registry a test can make answer garbage (Garbage)
// or go down (Close, DownAtNextBlob), and that counts the blobs it serves.
type RegistryServer struct {
	// Host is its host:port, what references start with.
	Host    string
	srv     *httptest.Server
	garbage atomic.Bool
	// downAtBlob takes the registry down at the next blob download.
	downAtBlob atomic.Bool
	blobs      atomic.Int64
}

// StartRegistry starts a RegistryServer, closed when the test ends.
func StartRegistry(tb testing.TB) *RegistryServer {
	tb.Helper()
	r := &RegistryServer{}
	r.srv = startRegistry(tb, r.wrap)
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

func (r *RegistryServer) wrap(reg http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.garbage.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Docker-Content-Digest", "sha256:not-a-digest")
			_, _ = io.WriteString(w, "<html>this is no registry</html>")
			return
		}
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/") {
			r.blobs.Add(1)
			if r.downAtBlob.CompareAndSwap(true, false) {
				// Half an answer, then the connection breaks and the
				// registry goes away (Close waits for this handler).
				w.Header().Set("Content-Length", "1048576")
				_, _ = io.WriteString(w, "\x00asm")
				w.(http.Flusher).Flush()
				go r.srv.Close()
				panic(http.ErrAbortHandler)
			}
		}
		reg.ServeHTTP(w, req)
	})
}

// Garbage makes every answer, from now on (or no more, with false), a 200
// whose body and headers are no registry's.
func (r *RegistryServer) Garbage(on bool) { r.garbage.Store(on) }

// BlobsServed counts the blobs downloaded from the registry so far.
func (r *RegistryServer) BlobsServed() int64 { return r.blobs.Load() }

// DownAtNextBlob makes the registry go down in the middle of the next
// blob download: the download breaks off, and connections are refused
// from then on.
func (r *RegistryServer) DownAtNextBlob() { r.downAtBlob.Store(true) }

// Close takes the registry down: connections are refused from now on.
func (r *RegistryServer) Close() { r.srv.Close() }

// PushArtifact pushes to ref, on a registry reached over plain HTTP, an
// artifact of artifactType with layers (by media type) and, when
// configData is not nil, the config config describes: what another tool
// would push, not a processor.
func PushArtifact(t testing.TB, ref, artifactType string, config ocispec.Descriptor, configData []byte, layers map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	repo, err := remote.NewRepository(ref)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	var descs []ocispec.Descriptor
	for mt, b := range layers {
		d, err := oras.PushBytes(ctx, repo, mt, b)
		if err != nil {
			t.Fatal(err)
		}
		descs = append(descs, d)
	}
	opts := oras.PackManifestOptions{Layers: descs}
	if configData != nil {
		if err := repo.Push(ctx, config, bytes.NewReader(configData)); err != nil {
			t.Fatal(err)
		}
		opts.ConfigDescriptor = &config
	}
	desc, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, artifactType, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Tag(ctx, desc, repo.Reference.Reference); err != nil {
		t.Fatal(err)
	}
}
