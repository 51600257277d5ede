package serve_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/empirefederation/neuron/internal/serve"
	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/internal/tlsconf"
	"github.com/empirefederation/neuron/runtime"
)

// waitLimit bounds each request; it is never an assertion on speed.
const waitLimit = 60 * time.Second

// newRuntime is a real runtime on an empty plugins directory: its router
// answers every processor path 404.
func newRuntime(t *testing.T) *runtime.Runtime {
	t.Helper()
	rt, err := runtime.New(context.Background(), runtime.Options{PluginsDir: t.TempDir(), DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	return rt
}

// reached stands for the update handler (internal/control's, which the
// agent's tests run): it says it was reached.
var reached = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "update handler") })

// The update route with UpdateClientCert, served over real TLS with the
// client CAs of tlsconf.Server: a client without a certificate reaches
// /health and the processors' router, not the update handler, which only
// a client with a verified certificate reaches. Plain HTTP never does.
func TestHandler_UpdateClientCert(t *testing.T) {
	rt := newRuntime(t)
	h := serve.Handler(rt, prometheus.NewRegistry(), serve.Options{Started: time.Now(), Update: reached, UpdateClientCert: true})

	ca, clients := testutil.NewCA(t, "server CA"), testutil.NewCA(t, "client CA")
	cert := ca.Server(time.Time{})
	pair, err := tlsconf.LoadPair("tls.cert and tls.key", cert.CertFile, cert.KeyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	clientCAs, err := tlsconf.LoadPool("tls.clientCA", clients.File)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = tlsconf.Server(pair, clientCAs)
	srv.TLS.Certificates = []tls.Certificate{cert.Pair} // httptest adds its own otherwise; GetCertificate serves the same pair
	srv.StartTLS()
	t.Cleanup(srv.Close)
	plain := httptest.NewServer(h)
	t.Cleanup(plain.Close)

	member := clients.Client("federation")
	client := func(withCert bool) *http.Client {
		conf := &tls.Config{RootCAs: ca.Pool()}
		if withCert {
			conf.Certificates = []tls.Certificate{member.Pair}
		}
		return &http.Client{Timeout: waitLimit, Transport: &http.Transport{TLSClientConfig: conf}}
	}
	do := func(c *http.Client, method, url string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	wantRefused := func(what string, status int, body string) {
		t.Helper()
		var e struct{ Error, Code string }
		if status != http.StatusForbidden || json.Unmarshal([]byte(body), &e) != nil || e.Code != serve.CodeClientCertRequired || !strings.Contains(e.Error, "NEURON_TLS_CLIENT_CA") {
			t.Errorf("%s: %d %s; want 403 %s naming NEURON_TLS_CLIENT_CA", what, status, body, serve.CodeClientCertRequired)
		}
	}

	status, body := do(client(false), "POST", srv.URL+serve.UpdatePath)
	wantRefused("update over TLS without a certificate", status, body)
	status, body = do(&http.Client{Timeout: waitLimit}, "POST", plain.URL+serve.UpdatePath)
	wantRefused("update over plain HTTP", status, body)
	if status, body := do(client(true), "POST", srv.URL+serve.UpdatePath); status != http.StatusOK || body != "update handler" {
		t.Errorf("update with a verified certificate: %d %s; want the update handler", status, body)
	}
	if status, body := do(client(false), "GET", srv.URL+"/health"); status != http.StatusOK {
		t.Errorf("/health without a certificate: %d %s", status, body)
	}
	if status, body := do(client(false), "GET", srv.URL+"/some/processor/path"); status != http.StatusNotFound || !strings.Contains(body, runtime.CodeNotFound) {
		t.Errorf("a processor path without a certificate: %d %s; want the processors' router's 404", status, body)
	}
}

// Without UpdateClientCert the update route takes any client, as before.
func TestHandler_UpdateWithoutClientCert(t *testing.T) {
	rt := newRuntime(t)
	srv := httptest.NewServer(serve.Handler(rt, prometheus.NewRegistry(), serve.Options{Update: reached}))
	t.Cleanup(srv.Close)
	resp, err := (&http.Client{Timeout: waitLimit}).Post(srv.URL+serve.UpdatePath, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || string(b) != "update handler" {
		t.Errorf("update over plain HTTP without UpdateClientCert: %d %s", resp.StatusCode, b)
	}
}
