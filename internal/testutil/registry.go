package testutil

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// Registry starts an OCI registry (go-containerregistry's, in memory, with
// the referrers API) on loopback for the test and returns its host:port,
// which the neuron reaches over plain HTTP. wrap, when not nil, wraps its
// handler: to require credentials, to fail on cue.
func Registry(tb testing.TB, wrap func(http.Handler) http.Handler) string {
	tb.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
