package config

import (
	"strings"
	"testing"
)

// The TLS keys load from every layer, and the derived base URL says https
// when the neuron serves TLS.
func TestLoad_TLS(t *testing.T) {
	cfg, err := Load([]string{"--tls-cert", "/c/cert.pem", "--tls-key", "/c/key.pem", "--listen", "127.0.0.1:8443"}, env(map[string]string{
		"NEURON_TLS_CLIENT_CA": "/c/clients.pem",
		"FEDERATION_URL":       "https://fed.example", "FEDERATION_CA": "/c/fed-ca.pem",
		"FEDERATION_CLIENT_CERT": "/c/me.pem", "FEDERATION_CLIENT_KEY": "/c/me.key",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := TLS{Cert: "/c/cert.pem", Key: "/c/key.pem", ClientCA: "/c/clients.pem"}
	if cfg.TLS != want {
		t.Errorf("TLS = %+v, want %+v", cfg.TLS, want)
	}
	f := cfg.Federation
	if f.CA != "/c/fed-ca.pem" || f.ClientCert != "/c/me.pem" || f.ClientKey != "/c/me.key" || f.AllowHTTP {
		t.Errorf("federation TLS = %q %q %q %v", f.CA, f.ClientCert, f.ClientKey, f.AllowHTTP)
	}
	if cfg.BaseURL != "https://127.0.0.1:8443" {
		t.Errorf("BaseURL = %q, want https://127.0.0.1:8443", cfg.BaseURL)
	}
	plain, err := Load(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if plain.TLS != (TLS{}) || !strings.HasPrefix(plain.BaseURL, "http://") {
		t.Errorf("zero setup: TLS %+v, BaseURL %q; want none and http", plain.TLS, plain.BaseURL)
	}
}

// Plain http to a federation beyond loopback is refused unless allowed,
// with a message naming the variable that allows it; loopback, embedded
// and https need nothing.
func TestLoad_FederationPlainHTTP(t *testing.T) {
	for _, url := range []string{"embedded", "http://127.0.0.1:5000", "http://localhost:5000", "http://[::1]:5000", "http://127.1.2.3", "https://fed.example"} {
		if _, err := Load(nil, env(map[string]string{"FEDERATION_URL": url})); err != nil {
			t.Errorf("FEDERATION_URL=%s: %v", url, err)
		}
	}
	for _, url := range []string{"http://fed.example:5000", "http://10.0.0.5", "http://[fd00::1]:5000", "http://localhost.example.com"} {
		_, err := Load(nil, env(map[string]string{"FEDERATION_URL": url}))
		if err == nil || !strings.Contains(err.Error(), "set FEDERATION_ALLOW_HTTP=true") ||
			!strings.HasPrefix(err.Error(), "config: federation.url in env FEDERATION_URL: "+url+" is plain http") {
			t.Errorf("FEDERATION_URL=%s: %v; want a refusal naming FEDERATION_ALLOW_HTTP", url, err)
		}
		if _, err := Load(nil, env(map[string]string{"FEDERATION_URL": url, "FEDERATION_ALLOW_HTTP": "true"})); err != nil {
			t.Errorf("FEDERATION_URL=%s with FEDERATION_ALLOW_HTTP=true: %v", url, err)
		}
	}
}

// Keys that need others say which, and where they were set.
func TestLoad_TLSRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"cert without key", map[string]string{"NEURON_TLS_CERT": "c.pem"},
			"config: tls.cert in env NEURON_TLS_CERT needs tls.key: set NEURON_TLS_KEY too"},
		{"key without cert", map[string]string{"NEURON_TLS_KEY": "k.pem"},
			"config: tls.key in env NEURON_TLS_KEY needs tls.cert: set NEURON_TLS_CERT too"},
		{"client CA without TLS", map[string]string{"NEURON_TLS_CLIENT_CA": "ca.pem"},
			"config: tls.clientCA in env NEURON_TLS_CLIENT_CA: client certificates are asked only over TLS"},
		{"federation client cert without key", map[string]string{"FEDERATION_URL": "https://f", "FEDERATION_CLIENT_CERT": "c.pem"},
			"config: federation.clientCert in env FEDERATION_CLIENT_CERT needs federation.clientKey: set FEDERATION_CLIENT_KEY too"},
		{"federation CA with http", map[string]string{"FEDERATION_URL": "http://127.0.0.1:5000", "FEDERATION_CA": "ca.pem"},
			`config: federation.ca in env FEDERATION_CA: only an https:// federation.url uses it, and federation.url is "http://127.0.0.1:5000" (in env FEDERATION_URL)`},
		{"federation client cert standalone", map[string]string{"FEDERATION_CLIENT_CERT": "c.pem", "FEDERATION_CLIENT_KEY": "k.pem"},
			`config: federation.clientCert in env FEDERATION_CLIENT_CERT: only an https:// federation.url uses it, and federation.url is ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(nil, env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load: %v\nwant %s", err, tc.want)
			}
		})
	}
}
