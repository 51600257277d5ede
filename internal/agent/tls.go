package agent

import (
	"context"
	"crypto/x509"
	"strings"

	"github.com/empirefederation/neuron/internal/tlsconf"
)

// loadTLS reads the TLS files, first of all, so that a bad one stops the
// start before anything listens: the serving pair and the client CAs
// (tls.*), and the federation client's roots and pair (federation.ca,
// federation.clientCert) when the federation URL is https. Package config
// checked which keys go together; this checks what the files hold.
func (a *Agent) loadTLS(context.Context) error {
	if t := a.cfg.TLS; t.Cert != "" {
		pair, err := tlsconf.LoadPair("tls.cert and tls.key", t.Cert, t.Key, a.log)
		if err != nil {
			return err
		}
		var clientCAs *x509.CertPool
		if t.ClientCA != "" {
			if clientCAs, err = tlsconf.LoadPool("tls.clientCA", t.ClientCA); err != nil {
				return err
			}
		}
		a.serverTLS = tlsconf.Server(pair, clientCAs)
	}
	f := a.cfg.Federation
	if !strings.HasPrefix(f.URL, "https://") {
		return nil
	}
	var (
		roots *x509.CertPool // nil: the system's
		pair  *tlsconf.Pair
		err   error
	)
	if f.CA != "" {
		if roots, err = tlsconf.LoadPool("federation.ca", f.CA); err != nil {
			return err
		}
	}
	if f.ClientCert != "" {
		if pair, err = tlsconf.LoadPair("federation.clientCert and federation.clientKey", f.ClientCert, f.ClientKey, a.log); err != nil {
			return err
		}
	}
	a.federationTLS = tlsconf.Client(roots, pair)
	return nil
}
