package agent_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/agent"
	"github.com/empirefederation/neuron/internal/config"
	"github.com/empirefederation/neuron/internal/devfed"
	"github.com/empirefederation/neuron/internal/serve"
	"github.com/empirefederation/neuron/internal/testutil"
)

// withTLS makes n's client speak HTTPS to it, trusting ca and presenting
// client when it is not nil (whatever CAs the server names, so that a
// certificate of a CA it does not trust is sent, not withheld as Go's
// client would); each request is a new connection, so that
// it sees the certificate served now.
func (n *neuron) withTLS(t *testing.T, ca *testutil.CA, client *tls.Certificate) *neuron {
	t.Helper()
	conf := &tls.Config{RootCAs: ca.Pool()}
	if client != nil {
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return client, nil }
	}
	tr := &http.Transport{TLSClientConfig: conf, DisableKeepAlives: true}
	c := *n
	c.base = "https://" + n.a.Addr().String()
	c.client = &http.Client{Transport: tr, Timeout: waitLimit}
	return &c
}

// A neuron given a certificate serves HTTPS with it, and a renewed
// certificate written over the files serves new connections without a
// restart. With client CAs, the update route refuses a client without a
// verified certificate (403, before the bearer is looked at) while the
// processors and the neuron's other routes serve it; a certificate of
// another CA does not connect.
func TestAgent_TLS(t *testing.T) {
	ca, clients, stranger := testutil.NewCA(t, "server CA"), testutil.NewCA(t, "client CA"), testutil.NewCA(t, "another CA")
	cert := ca.Server(time.Time{})
	plugins := pluginsDir(t, map[string]string{"hello.wasm": "examples/hello"})
	n := startEnv(t, func(k string) (string, bool) {
		if k == "NEURON_TLS_CLIENT_CA" {
			return clients.File, true
		}
		return "", false
	},
		"--listen", "127.0.0.1:0", "--plugins-dir", plugins, "--data-dir", dataDir(t),
		"--tls-cert", cert.CertFile, "--tls-key", cert.KeyFile)
	anon := n.withTLS(t, ca, nil)
	member := clients.Client("federation")
	known := n.withTLS(t, ca, &member.Pair)

	servedSerial := func() *big.Int {
		resp, err := anon.client.Get(anon.base + "/health")
		if err != nil {
			t.Fatalf("GET /health over TLS: %v", err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /health over TLS: status %d", resp.StatusCode)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber
	}
	if got := servedSerial(); got.Cmp(cert.Serial) != 0 {
		t.Fatalf("served serial %v, want %v", got, cert.Serial)
	}

	r := anon.do(t, "GET", "/hello/world", "")
	if r.status != http.StatusOK {
		t.Errorf("processor over TLS without a client certificate: status %d body %s", r.status, r.body)
	}
	r.wantPlugin(t, "GET /hello/world over TLS", "hello@1.0.0")
	e := anon.do(t, "POST", serve.UpdatePath, `{"config":{}}`).wantError(t, "update without a client certificate", http.StatusForbidden, serve.CodeClientCertRequired)
	if !strings.Contains(e.Error, "NEURON_TLS_CLIENT_CA") {
		t.Errorf("refusal %q does not name the setting", e.Error)
	}
	// With a certificate, the route goes on to the bearer: standalone, none
	// is valid.
	known.do(t, "POST", serve.UpdatePath, `{"config":{}}`).wantError(t, "update with a client certificate", http.StatusUnauthorized, "unauthorized")
	wrong := stranger.Client("intruder")
	if _, err := n.withTLS(t, ca, &wrong.Pair).send(t.Context(), "POST", serve.UpdatePath, `{"config":{}}`); err == nil {
		t.Error("a client certificate of another CA connected; want the handshake refused")
	}
	if r := n.do(t, "GET", "/health", ""); r.status != http.StatusBadRequest { // n's client speaks plain HTTP
		t.Errorf("plain HTTP to the HTTPS port: status %d body %s; want Go's 400", r.status, r.body)
	}

	renewed := ca.Server(time.Time{})
	renewed.WriteTo(t, cert.CertFile, cert.KeyFile)
	testutil.Eventually(t, waitLimit, "the renewed certificate served", func() bool { return servedSerial().Cmp(renewed.Serial) == 0 })
	if !strings.Contains(n.log.String(), "TLS certificate reloaded") {
		t.Errorf("no reload in the log:\n%s", n.log)
	}
}

// A neuron given FEDERATION_CA joins a development federation served over
// HTTPS with a certificate of that CA; a CA file that holds no
// certificate stops the start, naming the setting.
func TestAgent_FederationTLS(t *testing.T) {
	ca := testutil.NewCA(t, "federation CA")
	token := devfed.GenerateToken()
	s, err := devfed.Open(devfed.Options{DataDir: t.TempDir(), AdminToken: token, HeartbeatInterval: devLiveness,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(time.Time{}).Pair}}
	srv.StartTLS()
	t.Cleanup(func() { // after the neuron's stop, registered later
		srv.Close()
		if err := s.Close(); err != nil {
			t.Errorf("devfed Close: %v", err)
		}
	})
	vars := map[string]string{"FEDERATION_URL": srv.URL, "FEDERATION_CA": ca.File, "NEURON_HEARTBEAT_INTERVAL": devHeartbeat.String()}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	startEnv(t, lookup, "--id", "tls-neuron", "--listen", "127.0.0.1:0", "--plugins-dir", t.TempDir(), "--data-dir", dataDir(t))
	api := adminAPI{base: srv.URL, token: token, client: &http.Client{Timeout: waitLimit,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}}
	testutil.Eventually(t, waitLimit, "the neuron registered over HTTPS", func() bool { return api.statuses(t)["tls-neuron"] != "" })

	vars["FEDERATION_CA"] = writeFile(t, "empty.pem", "no certificate here\n")
	cfg, err := config.Load([]string{"--listen", "127.0.0.1:0", "--plugins-dir", t.TempDir(), "--data-dir", dataDir(t)}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := agent.Start(context.Background(), cfg, io.Discard); err == nil {
		_ = a.Stop()
		t.Error("agent.Start with a CA file without a certificate succeeded")
	} else if !strings.Contains(err.Error(), "federation.ca") || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("agent.Start: %v; want federation.ca named", err)
	}
}
