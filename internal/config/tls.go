package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// checkTLS validates the TLS keys together: a certificate comes with its
// key, client certificates are asked only over TLS, the federation's CA
// and client certificate only serve an https URL, and a plain http URL to
// a federation beyond loopback needs federation.allowHttp. Whether the
// files hold what they should is checked when the neuron starts
// (internal/tlsconf), where they are read.
func (c *checker) checkTLS(cfg *Config) {
	c.needBoth("tls.cert", cfg.TLS.Cert, "NEURON_TLS_CERT", "tls.key", cfg.TLS.Key, "NEURON_TLS_KEY")
	if cfg.TLS.ClientCA != "" && cfg.TLS.Cert == "" {
		c.errs = append(c.errs, fmt.Errorf("config: tls.clientCA in %s: client certificates are asked only over TLS: set tls.cert and tls.key (NEURON_TLS_CERT, NEURON_TLS_KEY) too",
			c.prov["tls.clientCA"]))
	}
	f := cfg.Federation
	c.needBoth("federation.clientCert", f.ClientCert, "FEDERATION_CLIENT_CERT", "federation.clientKey", f.ClientKey, "FEDERATION_CLIENT_KEY")
	https := strings.HasPrefix(f.URL, "https://")
	for _, k := range []struct{ key, value string }{{"federation.ca", f.CA}, {"federation.clientCert", f.ClientCert}} {
		if k.value != "" && !https {
			c.errs = append(c.errs, fmt.Errorf("config: %s in %s: only an https:// federation.url uses it, and federation.url is %q (in %s)",
				k.key, c.prov[k.key], f.URL, c.prov["federation.url"]))
		}
	}
	if host, ok := strings.CutPrefix(f.URL, "http://"); ok && !f.AllowHTTP && !loopback(host) {
		c.errs = append(c.errs, fmt.Errorf("config: federation.url in %s: %s is plain http to a host beyond loopback, so the federation's token, the reports and the updates would cross the network readable and forgeable: use https://, or set FEDERATION_ALLOW_HTTP=true (federation.allowHttp: true) to allow it on a network you trust",
			c.prov["federation.url"], f.URL))
	}
}

// needBoth reports one of two keys set without the other.
func (c *checker) needBoth(aKey, a, aEnv, bKey, b, bEnv string) {
	switch {
	case a != "" && b == "":
		c.errs = append(c.errs, fmt.Errorf("config: %s in %s needs %s: set %s too", aKey, c.prov[aKey], bKey, bEnv))
	case b != "" && a == "":
		c.errs = append(c.errs, fmt.Errorf("config: %s in %s needs %s: set %s too", bKey, c.prov[bKey], aKey, aEnv))
	}
}

// loopback reports whether the host of hostport (the part of a URL after
// "http://") is localhost or a loopback address: traffic to it never
// leaves the machine.
func loopback(hostport string) bool {
	u, err := url.Parse("http://" + hostport)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// DerivedBaseURL is the base URL of a neuron listening on addr when
// baseUrl is not set: BaseURLFor(addr), with https when the neuron serves
// TLS. The agent calls it again with the bound address when Listen has
// port 0 and BaseURL was derived (BaseURL == DerivedBaseURL(Listen)).
func (c *Config) DerivedBaseURL(addr string) string {
	u := BaseURLFor(addr)
	if c.TLS.Cert != "" {
		return "https://" + strings.TrimPrefix(u, "http://")
	}
	return u
}
