package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a certificate authority made for one test: an ECDSA P-256 key and
// a self-signed CA certificate, issuing server and client certificates
// whose files go to the test's temporary directories.
type CA struct {
	tb     testing.TB
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	PEM    []byte // the CA certificate, PEM
	File   string // the CA certificate's file, for the settings that take a bundle
	serial atomic.Int64
}

// NewCA makes a CA named name, valid from an hour ago for a day.
func NewCA(tb testing.TB, name string) *CA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	ca := &CA{tb: tb, cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.serial.Store(1)
	ca.File = filepath.Join(tb.TempDir(), "ca.pem")
	if err := os.WriteFile(ca.File, ca.PEM, 0o644); err != nil {
		tb.Fatal(err)
	}
	return ca
}

// Pool is a certificate pool holding the CA, for a client's RootCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Issued is a certificate the CA issued: its serial number, its PEM files
// and the pair loaded for a tls.Config.
type Issued struct {
	Serial            *big.Int
	CertPEM, KeyPEM   []byte
	CertFile, KeyFile string
	Pair              tls.Certificate
}

// Server issues a server certificate for localhost, 127.0.0.1 and ::1,
// valid from an hour ago until notAfter (a day from now when zero).
func (ca *CA) Server(notAfter time.Time) Issued {
	return ca.issue("localhost", notAfter, x509.ExtKeyUsageServerAuth)
}

// Client issues a client certificate with common name cn.
func (ca *CA) Client(cn string) Issued {
	return ca.issue(cn, time.Time{}, x509.ExtKeyUsageClientAuth)
}

func (ca *CA) issue(cn string, notAfter time.Time, usage x509.ExtKeyUsage) Issued {
	tb := ca.tb
	tb.Helper()
	if notAfter.IsZero() {
		notAfter = time.Now().Add(24 * time.Hour)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial := big.NewInt(ca.serial.Add(1))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	out := Issued{Serial: serial,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})}
	if out.Pair, err = tls.X509KeyPair(out.CertPEM, out.KeyPEM); err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	out.CertFile, out.KeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	out.WriteTo(tb, out.CertFile, out.KeyFile)
	return out
}

// WriteTo writes the certificate and key to certFile and keyFile, each
// through a rename, as a certificate manager replaces them.
func (is Issued) WriteTo(tb testing.TB, certFile, keyFile string) {
	tb.Helper()
	for _, f := range []struct {
		path string
		b    []byte
	}{{keyFile, is.KeyPEM}, {certFile, is.CertPEM}} {
		tmp := f.path + ".new"
		if err := os.WriteFile(tmp, f.b, 0o600); err != nil {
			tb.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			tb.Fatal(err)
		}
	}
}
