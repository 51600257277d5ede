package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/empirefederation/neuron/internal/hostlist"
	"github.com/empirefederation/neuron/internal/signature"
)

// Downloads is how load_plugin fetches a module by URL. The command comes
// from the federation, and the neuron often runs inside a network the
// federation should not see into, so a download is held to its URL's
// kind of place: redirects keep the scheme, the .wasm name (.wasm.sig for
// the signature file fetched beside it) and the host allow-list, and reach a loopback or link-local address (the host, a
// cloud's metadata service) only when the command's own URL did. What the
// far side answered (a status, a banner of a service that is not HTTP, the
// digest of a response) goes to the neuron's log, never into the command's
// outcome, which the federation reads. See docs/design.md, "Where may
// load_plugin download from?".
type Downloads struct {
	// Timeout bounds one download, redirects included.
	Timeout time.Duration
	// Hosts, when not empty, are the only hosts a download and its
	// redirects may reach: "host" (any port) or "host:port".
	Hosts []string
	// Log receives why a download failed, with what the far side said.
	Log *slog.Logger
}

// maxRedirects bounds the redirects a download follows.
const maxRedirects = 5

// fileKind is what a download fetches: the module, or its signature file
// beside it.
type fileKind struct {
	suffix string // every URL of the download, redirects included, ends so
	limit  int64  // the most bytes read
	what   string // what the outcome calls it
}

var (
	moduleFile    = fileKind{".wasm", MaxModuleBytes, "module"}
	signatureFile = fileKind{".wasm" + signature.Suffix, signature.MaxFileBytes, "signature file"}
)

// errDownload is the outcome of a download of a k that failed on the far
// side's account: the same words whatever it answered, so that the
// outcome tells nothing of what listens where.
func (k fileKind) errDownload() error {
	return fmt.Errorf("no %s could be downloaded from the URL; the neuron's log says why", k.what)
}

// fetch downloads the k at u, at most k.limit bytes.
func (d *Downloads) fetch(ctx context.Context, u *url.URL, k fileKind) ([]byte, error) {
	if !d.allowed(u) {
		return nil, fmt.Errorf("host %s is not among the hosts load_plugin may download from (%s)", u.Host, strings.Join(d.Hosts, ", "))
	}
	local, err := isLocal(ctx, u.Hostname())
	if err != nil {
		d.Log.Warn("load_plugin download failed", "url", u.Redacted(), "err", err)
		return nil, k.errDownload()
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		if ap, err := netip.ParseAddrPort(address); err == nil && !local && restricted(ap.Addr()) {
			return refusal("it led to a loopback or link-local address, which load_plugin reaches only when the command's URL is one")
		}
		return nil
	}}
	transport := &http.Transport{Proxy: http.ProxyFromEnvironment, DialContext: dialer.DialContext,
		TLSHandshakeTimeout: 30 * time.Second, ForceAttemptHTTP2: true}
	defer transport.CloseIdleConnections()
	client := &http.Client{Timeout: d.Timeout, Transport: transport, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		switch {
		case len(via) >= maxRedirects:
			return refusal(fmt.Sprintf("more than %d redirects", maxRedirects))
		case req.URL.Scheme != via[0].URL.Scheme:
			return refusal("a redirect changed the scheme from " + via[0].URL.Scheme)
		case !strings.HasSuffix(path.Base(req.URL.Path), k.suffix):
			return refusal("a redirect led to a file whose name does not end in " + k.suffix)
		case !d.allowed(req.URL):
			return refusal("a redirect led to a host not among the hosts load_plugin may download from")
		}
		return nil
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		d.Log.Warn("load_plugin download failed", "url", u.Redacted(), "err", err)
		if r, ok := errors.AsType[refusal](err); ok {
			return nil, r
		}
		return nil, k.errDownload()
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		d.Log.Warn("load_plugin download failed", "url", u.Redacted(), "status", resp.Status)
		return nil, k.errDownload()
	}
	bin, err := io.ReadAll(io.LimitReader(resp.Body, k.limit+1))
	if err != nil {
		d.Log.Warn("load_plugin download failed", "url", u.Redacted(), "err", err)
		return nil, k.errDownload()
	}
	if int64(len(bin)) > k.limit {
		return nil, fmt.Errorf("the %s is larger than %d bytes", k.what, k.limit)
	}
	return bin, nil
}

// signatureURL is where the signature file of the module at u is
// published: the same URL with signature.Suffix added to its path (a
// query, if any, kept).
func signatureURL(u *url.URL) *url.URL {
	s := *u
	s.Path += signature.Suffix
	if s.RawPath != "" {
		s.RawPath += signature.Suffix
	}
	return &s
}

// refusal is a download stopped by the rules above: its words are ours,
// so the outcome may carry them.
type refusal string

func (r refusal) Error() string { return "the download was refused: " + string(r) }

// allowed reports whether u's host is on the allow-list, or there is none.
func (d *Downloads) allowed(u *url.URL) bool {
	return len(d.Hosts) == 0 || hostlist.Match(d.Hosts, u.Host)
}

// isLocal reports whether host is, or resolves to, a loopback or
// link-local address: a download that starts there may stay there.
func isLocal(ctx context.Context, host string) (bool, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return restricted(a), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return false, fmt.Errorf("resolve %s: %w", host, err)
	}
	return slices.ContainsFunc(addrs, restricted), nil
}

// restricted reports whether a is an address a download from elsewhere
// must not reach: loopback, link-local (169.254.169.254 serves cloud
// credentials) or unspecified (0.0.0.0 reaches the host itself).
func restricted(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified()
}
