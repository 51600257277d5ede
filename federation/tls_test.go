package federation_test

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation"
	"github.com/empirefederation/neuron/internal/devfed"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/internal/tlsconf"
)

// devfedTLS serves a real development federation over HTTPS with a
// certificate of ca; clientCAs, when not nil, must sign the certificate
// every client presents.
func devfedTLS(t *testing.T, ca *testutil.CA, clientCAs *testutil.CA) string {
	t.Helper()
	s, err := devfed.Open(devfed.Options{DataDir: t.TempDir(), AdminToken: "admin-token-for-tls-tests", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(time.Time{}).Pair}}
	if clientCAs != nil {
		srv.TLS.ClientCAs, srv.TLS.ClientAuth = clientCAs.Pool(), tls.RequireAndVerifyClientCert
	}
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		if err := s.Close(); err != nil {
			t.Errorf("devfed Close: %v", err)
		}
	})
	return srv.URL
}

// The federation client reaches a development federation over HTTPS when
// it trusts the federation's CA, and is refused, with the setting to fix
// it, when it trusts only the system's roots.
func TestClient_TLSWithCA(t *testing.T) {
	ca := testutil.NewCA(t, "federation CA")
	url := devfedTLS(t, ca, nil)
	ctx := context.Background()

	roots, err := tlsconf.LoadPool("federation.ca", ca.File)
	if err != nil {
		t.Fatal(err)
	}
	c := federation.NewClient(url, federation.NewHTTPClient(federation.DefaultTimeout, tlsconf.Client(roots, nil)), "neuron-test")
	token, err := c.Register(ctx, "", testRegistration())
	if err != nil || token == "" {
		t.Fatalf("Register over TLS with the CA: %q, %v", token, err)
	}
	if err := c.SendStatus(ctx, token, federation.Status{Status: federation.StatusActive, HealthScore: 100}); err != nil {
		t.Errorf("SendStatus over TLS: %v", err)
	}

	system := federation.NewClient(url, federation.NewHTTPClient(federation.DefaultTimeout, nil), "neuron-test")
	_, err = system.Register(ctx, "", testRegistration())
	if err == nil || !strings.Contains(err.Error(), "set FEDERATION_CA") || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("Register with the system's roots: %v; want the unknown authority and FEDERATION_CA named", err)
	}
	t.Logf("refusal: %v", err)
	var ferr *federation.Error
	if !errors.As(err, &ferr) || ferr.Op != federation.OpRegister {
		t.Errorf("error %T %v; want a *federation.Error of register", err, err)
	}
}

// A federation that requires client certificates takes the neuron's pair
// and refuses a neuron without one.
func TestClient_TLSClientCertificate(t *testing.T) {
	ca, neurons := testutil.NewCA(t, "federation CA"), testutil.NewCA(t, "neuron CA")
	url := devfedTLS(t, ca, neurons)
	ctx := context.Background()
	mine := neurons.Client("dp-001")
	pair, err := tlsconf.LoadPair("federation.clientCert and federation.clientKey", mine.CertFile, mine.KeyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	with := federation.NewClient(url, federation.NewHTTPClient(federation.DefaultTimeout, tlsconf.Client(ca.Pool(), pair)), "neuron-test")
	if _, err := with.Register(ctx, "", testRegistration()); err != nil {
		t.Errorf("Register with a client certificate: %v", err)
	}
	without := federation.NewClient(url, federation.NewHTTPClient(federation.DefaultTimeout, tlsconf.Client(ca.Pool(), nil)), "neuron-test")
	if _, err := without.Register(ctx, "", testRegistration()); err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Errorf("Register without a client certificate: %v; want the federation's refusal", err)
	}
}

// A federation over https that redirects to plain http does not get the
// token sent in clear: the client refuses the redirect, and says why.
func TestClient_TLSRefusesDowngrade(t *testing.T) {
	ca := testutil.NewCA(t, "federation CA")
	var clear atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { clear.Add(1) }))
	t.Cleanup(plain.Close)
	redirect := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	redirect.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(time.Time{}).Pair}}
	redirect.StartTLS()
	t.Cleanup(redirect.Close)
	c := federation.NewClient(redirect.URL, federation.NewHTTPClient(federation.DefaultTimeout, tlsconf.Client(ca.Pool(), nil)), "neuron-test")
	err := c.SendStatus(context.Background(), "secret-token", federation.Status{Status: federation.StatusActive})
	if err == nil || !strings.Contains(err.Error(), "refused a redirect from https to "+plain.URL) {
		t.Errorf("SendStatus through a downgrading redirect: %v; want the redirect refused", err)
	}
	if n := clear.Load(); n != 0 {
		t.Errorf("the plain http server received %d requests, want none", n)
	}
}
