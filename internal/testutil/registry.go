package testutil

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Registry is an OCI registry serving on loopback for one test:
// go-containerregistry's in-memory registry, referrers API on. A test
// can make it answer garbage (Garbage) or go down (Close).
type Registry struct {
	// Host is its host:port, what references start with.
	Host    string
	srv     *httptest.Server
	garbage atomic.Bool
	// downAtBlob takes the registry down at the next blob download.
	downAtBlob atomic.Bool
	blobs      atomic.Int64
}

// StartRegistry starts a Registry, closed when the test ends.
func StartRegistry(tb testing.TB) *Registry {
	tb.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true))
	r := &Registry{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
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
	}))
	tb.Cleanup(r.srv.Close)
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// Garbage makes every answer, from now on (or no more, with false), a 200
// whose body and headers are no registry's.
func (r *Registry) Garbage(on bool) { r.garbage.Store(on) }

// BlobsServed counts the blobs downloaded from the registry so far.
func (r *Registry) BlobsServed() int64 { return r.blobs.Load() }

// DownAtNextBlob makes the registry go down in the middle of the next
// blob download: the download breaks off, and connections are refused
// from then on.
func (r *Registry) DownAtNextBlob() { r.downAtBlob.Store(true) }

// Close takes the registry down: connections are refused from now on.
func (r *Registry) Close() { r.srv.Close() }
