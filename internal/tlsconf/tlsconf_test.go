package tlsconf_test

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/internal/tlsconf"
)

// These tests serve real HTTPS on loopback with certificates of a CA made
// in the test, and replace the files under a running server. They wait
// for what a new connection sees, never for a guessed time.

// waitLimit bounds every wait; it is never an assertion on speed.
const waitLimit = 60 * time.Second

// serveTLS serves 200 over HTTPS with conf on a loopback port and returns
// its address.
func serveTLS(t *testing.T, conf *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{TLSConfig: conf, ReadHeaderTimeout: waitLimit,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	return ln.Addr().String()
}

// servedSerial makes a new connection to addr, trusting ca, and returns
// the serial number of the certificate the server presented.
func servedSerial(t *testing.T, ca *testutil.CA, addr string) *big.Int {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, DisableKeepAlives: true}
	resp, err := (&http.Client{Transport: tr, Timeout: waitLimit}).Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("GET over TLS: %v", err)
	}
	_ = resp.Body.Close()
	return resp.TLS.PeerCertificates[0].SerialNumber
}

// A server whose pair is replaced on disk serves the new certificate to
// new connections, without a restart; a bad replacement (a key that does
// not match, an expired certificate) is logged once and the last good
// certificate keeps serving, until a good one replaces it.
func TestPair_Reload(t *testing.T) {
	ca := testutil.NewCA(t, "test CA")
	first := ca.Server(time.Time{})
	logs := &testutil.Buffer{}
	pair, err := tlsconf.LoadPair("tls.cert and tls.key", first.CertFile, first.KeyFile, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, tlsconf.Server(pair, nil))
	if got := servedSerial(t, ca, addr); got.Cmp(first.Serial) != 0 {
		t.Fatalf("served serial %v, want the first certificate's %v", got, first.Serial)
	}

	second := ca.Server(time.Time{})
	second.WriteTo(t, first.CertFile, first.KeyFile)
	testutil.Eventually(t, waitLimit, "the second certificate served", func() bool {
		return servedSerial(t, ca, addr).Cmp(second.Serial) == 0
	})
	if !strings.Contains(logs.String(), "TLS certificate reloaded") {
		t.Errorf("no reload logged:\n%s", logs)
	}

	mismatched := ca.Server(time.Time{})
	mismatched.KeyPEM = second.KeyPEM
	expired := ca.Server(time.Now().Add(-time.Minute))
	for _, bad := range []struct {
		name string
		is   testutil.Issued
		log  string
	}{
		{"a key that does not match", mismatched, "private key does not match public key"},
		{"an expired certificate", expired, "expired at"},
	} {
		bad.is.WriteTo(t, first.CertFile, first.KeyFile)
		testutil.Eventually(t, waitLimit, "the refusal of "+bad.name+" logged", func() bool {
			_ = servedSerial(t, ca, addr) // a handshake makes the pair look
			return strings.Contains(logs.String(), bad.log)
		})
		if got := servedSerial(t, ca, addr); got.Cmp(second.Serial) != 0 {
			t.Errorf("after %s: served serial %v, want the last good %v", bad.name, got, second.Serial)
		}
		if n := strings.Count(logs.String(), bad.log); n != 1 {
			t.Errorf("%s logged %d times, want once:\n%s", bad.name, n, logs)
		}
		if !strings.Contains(logs.String(), "keeping the previous one") {
			t.Errorf("the refusal does not say the previous certificate stays:\n%s", logs)
		}
	}

	third := ca.Server(time.Time{})
	third.WriteTo(t, first.CertFile, first.KeyFile)
	testutil.Eventually(t, waitLimit, "the third certificate served", func() bool {
		return servedSerial(t, ca, addr).Cmp(third.Serial) == 0
	})
}

// A pair that cannot serve is refused at load, with an error naming the
// settings and saying what is wrong.
func TestLoadPair_Errors(t *testing.T) {
	ca := testutil.NewCA(t, "test CA")
	good := ca.Server(time.Time{})
	other := ca.Server(time.Time{})
	expired := ca.Server(time.Now().Add(-time.Minute))
	notPEM := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"missing certificate", filepath.Join(t.TempDir(), "none.pem"), good.KeyFile, "read the certificate"},
		{"missing key", good.CertFile, filepath.Join(t.TempDir(), "none.pem"), "read the private key"},
		{"key of another certificate", good.CertFile, other.KeyFile, "private key does not match public key"},
		{"not PEM", notPEM, good.KeyFile, "failed to find any PEM data"},
		{"expired", expired.CertFile, expired.KeyFile, "expired at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tlsconf.LoadPair("tls.cert and tls.key", tc.cert, tc.key, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "tls.cert and tls.key") {
				t.Errorf("LoadPair: %v; want an error naming the settings with %q", err, tc.want)
			}
		})
	}
}

// A CA bundle must hold a certificate.
func TestLoadPool(t *testing.T) {
	ca := testutil.NewCA(t, "test CA")
	if _, err := tlsconf.LoadPool("FEDERATION_CA", ca.File); err != nil {
		t.Errorf("LoadPool(CA file): %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{empty: "holds no PEM certificate", filepath.Join(t.TempDir(), "none.pem"): "read the CA bundle"} {
		if _, err := tlsconf.LoadPool("FEDERATION_CA", file); err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "FEDERATION_CA: ") {
			t.Errorf("LoadPool(%s): %v; want FEDERATION_CA: ... %s", file, err, want)
		}
	}
}
