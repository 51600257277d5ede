// Package tlsconf builds the neuron's crypto/tls configurations from
// files: the serving certificate and key, re-read when the files change so
// that a renewed certificate serves without a restart; the bundle of CAs
// whose client certificates the update route accepts; and the federation
// client's roots and optional client certificate. It reads files and
// builds tls.Configs only: it owns no goroutine and no listener, and it
// decides nothing about routes (internal/serve checks the client
// certificate on the update route; internal/agent wires the rest).
package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// CheckEvery bounds how often a Pair looks at its files: at most once per
// period, on a handshake, so a busy server reads two small files a second
// at most and an idle one none.
const CheckEvery = time.Second

// Pair is a certificate and its private key read from two PEM files, for
// serving (GetCertificate) or for presenting as a client
// (GetClientCertificate). On a handshake at least CheckEvery after the
// last look, it re-reads the files; when their content changed it loads
// the new pair, and when the new pair is bad (unreadable, not matching,
// expired) it keeps the last good one and logs the error once (again
// only when the error changes). It is safe for concurrent use.
type Pair struct {
	what, certFile, keyFile string
	log                     *slog.Logger
	cur                     atomic.Pointer[tls.Certificate]

	mu              sync.Mutex // held by the one handshake that looks at the files
	next            time.Time  // no look before
	certPEM, keyPEM []byte     // the content cur was loaded from
	refused         string     // the last refusal logged, "" after a load
}

// LoadPair reads the pair from certFile and keyFile and fails, naming what
// (the settings, e.g. "tls.cert and tls.key"), when the files do not hold
// a matching certificate and key, or the certificate is not valid now.
// log receives reloads and refused changes.
func LoadPair(what, certFile, keyFile string, log *slog.Logger) (*Pair, error) {
	p := &Pair{what: what, certFile: certFile, keyFile: keyFile, log: log, next: time.Now().Add(CheckEvery)}
	certPEM, keyPEM, err := p.read()
	if err == nil {
		err = p.load(certPEM, keyPEM)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// GetCertificate is tls.Config.GetCertificate: the current certificate.
func (p *Pair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return p.current(), nil
}

// GetClientCertificate is tls.Config.GetClientCertificate: the current
// certificate, presented whatever CAs the server named (a server that
// trusts none of them refuses the handshake, with its own error).
func (p *Pair) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return p.current(), nil
}

// current returns the certificate, after looking at the files if it is
// time. A handshake never waits for another's look: it takes the
// certificate as it is.
func (p *Pair) current() *tls.Certificate {
	if p.mu.TryLock() {
		if now := time.Now(); now.After(p.next) {
			p.next = now.Add(CheckEvery)
			p.refresh()
		}
		p.mu.Unlock()
	}
	return p.cur.Load()
}

// refresh loads the files' content if it changed since the last load.
// A refusal is logged when it differs from the last one logged, so a bad
// pair left in place is reported once, not at every look. Called with mu
// held.
func (p *Pair) refresh() {
	certPEM, keyPEM, err := p.read()
	if err == nil && bytes.Equal(certPEM, p.certPEM) && bytes.Equal(keyPEM, p.keyPEM) {
		return
	}
	if err == nil {
		err = p.load(certPEM, keyPEM)
	}
	if err != nil {
		if msg := err.Error(); msg != p.refused {
			p.refused = msg
			p.log.Error("TLS certificate not reloaded: keeping the previous one; fix the files (write the new key and certificate elsewhere, then rename them into place)", "err", err)
		}
		return
	}
	p.refused = ""
	leaf := p.cur.Load().Leaf
	p.log.Info("TLS certificate reloaded", "settings", p.what, "subject", leaf.Subject.String(),
		"serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
}

func (p *Pair) read() (certPEM, keyPEM []byte, err error) {
	if certPEM, err = os.ReadFile(p.certFile); err != nil {
		return nil, nil, fmt.Errorf("%s: read the certificate: %w", p.what, err)
	}
	if keyPEM, err = os.ReadFile(p.keyFile); err != nil {
		return nil, nil, fmt.Errorf("%s: read the private key: %w", p.what, err)
	}
	return certPEM, keyPEM, nil
}

// load parses the pair, checks it is valid now and makes it current.
func (p *Pair) load(certPEM, keyPEM []byte) error {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("%s (%s, %s): %w", p.what, p.certFile, p.keyFile, err)
	}
	now := time.Now()
	switch leaf := c.Leaf; {
	case now.After(leaf.NotAfter):
		return fmt.Errorf("%s: the certificate in %s expired at %s: renew it", p.what, p.certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("%s: the certificate in %s is not valid before %s: check the clock, or issue it again", p.what, p.certFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	p.cur.Store(&c)
	p.certPEM, p.keyPEM = certPEM, keyPEM
	return nil
}

// LoadPool reads a bundle of PEM certificates from file, naming what (the
// setting) when it cannot be read or holds no certificate.
func LoadPool(what, file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: read the CA bundle: %w", what, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate (want one or more \"-----BEGIN CERTIFICATE-----\" blocks)", what, file)
	}
	return pool, nil
}
