package federation_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/devfed"
	"github.com/empirefederation/neuron/internal/testutil"
)

// A neuron that restarts (crashes: no "stopping" heartbeat) while its
// registration is still live registers again with the token it kept in
// LinkOptions.TokenFile; another process with the same id and base URL
// but without that token is refused (409) by the development federation.
func TestRestartKeepsIDWithToken(t *testing.T) {
	fed := startDevFed(t, devfed.Options{})
	client := federation.NewClient(fed.URL(), nil, "")
	file := filepath.Join(t.TempDir(), "federation-token.json")
	start := func() (*federation.Link, context.CancelFunc) {
		ctx, crash := context.WithCancel(context.Background())
		l := federation.StartLink(ctx, federation.LinkOptions{Client: client, Neuron: newFakeNeuron(),
			Queue: newMemQueue(), TokenFile: file})
		// The token is kept by the registration hook, just after
		// Registered turns true.
		testutil.Eventually(t, waitLimit, "the link to register and keep its token", func() bool {
			_, err := os.Stat(file)
			return l.Registered() && err == nil
		})
		return l, crash
	}
	first, crash := start()
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %+v", err, fi)
	}
	crash() // the loops end; no stopping heartbeat: the id stays live

	_, err := client.Register(context.Background(), "", testRegistration())
	if e, ok := err.(*federation.Error); !ok || e.Status != http.StatusConflict {
		t.Fatalf("registering the live id without its token: %v, want 409", err)
	}
	second, _ := start()
	if second.Token() == first.Token() {
		t.Error("the restarted neuron kept the old token")
	}
	if err := second.Stop(context.Background()); err != nil {
		t.Error(err)
	}
}
