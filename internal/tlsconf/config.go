package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
)

// Server returns the neuron server's TLS configuration: the certificate
// of pair, and, when clientCAs is not nil, client certificates requested
// and verified against clientCAs when a client gives one
// (VerifyClientCertIfGiven). A client without one still connects: the
// routes that need one refuse it themselves, so the processors' endpoints
// stay reachable without a certificate.
func Server(pair *Pair, clientCAs *x509.CertPool) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: pair.GetCertificate}
	if clientCAs != nil {
		c.ClientCAs, c.ClientAuth = clientCAs, tls.VerifyClientCertIfGiven
	}
	return c
}

// Client returns a TLS client configuration that verifies servers against
// roots (the system's when nil) and, when pair is not nil, presents its
// certificate to a server that asks for one.
func Client(roots *x509.CertPool, pair *Pair) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	if pair != nil {
		c.GetClientCertificate = pair.GetClientCertificate
	}
	return c
}
