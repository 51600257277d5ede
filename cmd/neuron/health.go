package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/empirefederation/neuron/internal/config"
)

// healthTimeout bounds the whole check, connection to last byte: a neuron
// that takes longer to answer /health is reported unhealthy, as a
// container runtime would report a check it had to kill.
const healthTimeout = 5 * time.Second

// healthBodyLimit bounds how much of the answer is read: /health is a
// small JSON object.
const healthBodyLimit = 1 << 20

const healthUsage = `Usage: neuron health [--url URL]

Asks the local neuron for GET /health and exits 0 only when it answers 200
with status "healthy"; otherwise it prints one line saying why on stderr
and exits 1 (2 for a usage error). It needs no shell or curl, so it is the
container image's health check:

  HEALTHCHECK CMD ["/neuron", "health"]

Without --url, the address comes from the neuron's own settings, read as
'neuron run' reads them (NEURON_CONFIG, NEURON_LISTEN, NEURON_TLS_CERT, ...):
listen :8080 is checked at http://127.0.0.1:8080/health (an empty or
unspecified host is the loopback address). With tls.cert set it is https,
and the neuron must present exactly the configured certificate: its host
name is not checked, since a loopback address is rarely in it, but nothing
other than the holder of that certificate's key can pass. With --url the
certificate is verified as any HTTPS client does (system roots, host name).

The check gives up after %s.

Flags:
  --url URL   the health endpoint to ask, e.g. http://10.0.0.5:8080/health
`

// healthCmd runs `neuron health`.
func healthCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("neuron health", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	urlFlag := fs.String("url", "", "")
	usage := fmt.Sprintf(healthUsage, healthTimeout)
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "neuron health: %v\n\n%s", err, usage)
		return exitUsage
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "neuron health: unexpected argument %q\n\n%s", fs.Arg(0), usage)
		return exitUsage
	}
	client := &http.Client{Timeout: healthTimeout}
	target := *urlFlag
	if target == "" {
		var err error
		if target, client.Transport, err = localHealth(); err != nil {
			fmt.Fprintf(stderr, "neuron health: %v\n", oneLine(err))
			return exitFailure
		}
	} else if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		fmt.Fprintf(stderr, "neuron health: --url %q: want an http:// or https:// URL, such as http://127.0.0.1:8080/health\n", target)
		return exitUsage
	}
	if err := checkHealth(ctx, client, target); err != nil {
		fmt.Fprintf(stderr, "neuron health: %s: %v\n", target, oneLine(err))
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s: healthy\n", target)
	return exitOK
}

// localHealth returns the health URL of the neuron the settings describe,
// and for HTTPS a transport that accepts only the configured certificate.
func localHealth() (string, http.RoundTripper, error) {
	cfg, err := config.Load(nil, nil)
	if err != nil {
		return "", nil, fmt.Errorf("cannot find the neuron's address in its settings (pass --url): %w", err)
	}
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return "", nil, fmt.Errorf("listen %q: %w (pass --url)", cfg.Listen, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	addr := net.JoinHostPort(host, port)
	if cfg.TLS.Cert == "" {
		return "http://" + addr + "/health", nil, nil
	}
	leaf, err := firstCertificate(cfg.TLS.Cert)
	if err != nil {
		return "", nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The host name cannot be checked against a loopback address, so
		// the ordinary verification is replaced by VerifyConnection's
		// stricter one: the very certificate configured, nothing else.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, leaf) {
				return fmt.Errorf("the server at %s does not present the certificate in %s", addr, cfg.TLS.Cert)
			}
			return nil
		},
	}
	return "https://" + addr + "/health", tr, nil
}

// firstCertificate returns the DER bytes of the first certificate in the
// PEM file name: the serving certificate, before its chain.
func firstCertificate(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading tls.cert: %w", err)
	}
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			return nil, fmt.Errorf("tls.cert %s holds no PEM CERTIFICATE block", name)
		}
		if block.Type == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(block.Bytes); err != nil {
				return nil, fmt.Errorf("tls.cert %s: %w", name, err)
			}
			return block.Bytes, nil
		}
	}
}

// checkHealth asks target and returns nil only for 200 with status "healthy".
func checkHealth(ctx context.Context, client *http.Client, target string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err // without the method and URL the caller prints already
	} else if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status       string            `json:"status"`
		Dependencies map[string]string `json:"dependencies"`
	}
	decodeErr := json.NewDecoder(io.LimitReader(resp.Body, healthBodyLimit)).Decode(&body)
	if resp.StatusCode == http.StatusOK && decodeErr == nil && body.Status == "healthy" {
		return nil
	}
	var down []string
	for name, state := range body.Dependencies {
		if state != "healthy" {
			down = append(down, name+" "+state)
		}
	}
	slices.Sort(down)
	switch {
	case decodeErr != nil:
		return fmt.Errorf("answered %s, not the neuron's health JSON (%v)", resp.Status, decodeErr)
	case len(down) > 0:
		return fmt.Errorf("answered %s, status %q; dependencies: %s", resp.Status, body.Status, strings.Join(down, ", "))
	}
	return fmt.Errorf("answered %s, status %q", resp.Status, body.Status)
}

// oneLine folds a multi-line error (a configuration's joined errors) onto
// one line, as a health check's log keeps only that.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
