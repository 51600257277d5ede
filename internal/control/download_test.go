package control

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
	"github.com/empirefederation/neuron/runtime"
)

// module is what the test servers serve as a .wasm file: the download
// rules do not look inside.
var module = []byte("\x00asm\x01\x00\x00\x00 a module")

// serve starts an HTTP server on addr ("127.0.0.1:0" or another local
// address) with handler h.
func serve(t *testing.T, addr string, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// redirectTo answers every request with a redirect to target.
func redirectTo(target string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, target, http.StatusFound) }
}

func serveModule(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(module) }

// nonLoopback returns an address of this machine that is neither loopback
// nor link-local, to serve a URL that is "elsewhere" from the download
// rules' point of view.
func nonLoopback(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	testutil.Unavailable(t, "a network interface with an address other than loopback, to serve a URL from elsewhere")
	return ""
}

// noSwap is the runtime of a load_plugin that must fail before its swap:
// reaching any of its methods fails the test.
type noSwap struct{ t *testing.T }

func (n noSwap) Sync(context.Context) (runtime.Changes, error) {
	n.t.Error("load_plugin swapped a module it should have refused")
	return runtime.Changes{}, nil
}
func (n noSwap) Reload(context.Context, string) (runtime.Changes, error) {
	return n.Sync(context.Background())
}
func (n noSwap) Unload(context.Context, string) error {
	_, err := n.Sync(context.Background())
	return err
}
func (n noSwap) Rollback(context.Context, string) (runtime.ProcessorInfo, runtime.ProcessorInfo, error) {
	_, err := n.Sync(context.Background())
	return runtime.ProcessorInfo{}, runtime.ProcessorInfo{}, err
}
func (n noSwap) Drain()                              { _, _ = n.Sync(context.Background()) }
func (n noSwap) Resume()                             { _, _ = n.Sync(context.Background()) }
func (n noSwap) Processors() []runtime.ProcessorInfo { return nil }

func fetchURL(t *testing.T, d *Downloads, raw string) ([]byte, error) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return d.fetch(ctx, u, moduleFile)
}

func newDownloads(hosts ...string) (*Downloads, *testutil.Buffer) {
	var log testutil.Buffer
	return &Downloads{Timeout: time.Minute, Hosts: hosts, Log: slog.New(slog.NewTextHandler(&log, nil))}, &log
}

// A download follows a redirect only where its first URL could have
// gone: the same scheme, a .wasm name, the allowed hosts, and a loopback
// or link-local address only from one. Each refusal says which rule, in
// the neuron's own words.
func TestDownloads_Redirects(t *testing.T) {
	local := serve(t, "127.0.0.1:0", serveModule)
	tlsModule := httptest.NewTLSServer(http.HandlerFunc(serveModule))
	t.Cleanup(tlsModule.Close)
	elsewhere := nonLoopback(t)

	tests := []struct {
		name  string
		hosts []string
		first string // the command's URL
		want  string // "" for the module
	}{
		{"loopback to loopback", nil, serve(t, "127.0.0.1:0", redirectTo(local.URL+"/m.wasm")).URL + "/a.wasm", ""},
		{"elsewhere to loopback", nil, serve(t, elsewhere+":0", redirectTo(local.URL+"/m.wasm")).URL + "/a.wasm",
			"led to a loopback or link-local address"},
		{"elsewhere to localhost by name", nil, serve(t, elsewhere+":0", redirectTo("http://localhost:"+local.URL[strings.LastIndexByte(local.URL, ':')+1:]+"/m.wasm")).URL + "/a.wasm",
			"led to a loopback or link-local address"},
		{"elsewhere to the metadata service", nil, serve(t, elsewhere+":0", redirectTo("http://169.254.169.254/latest/m.wasm")).URL + "/a.wasm",
			"led to a loopback or link-local address"},
		{"elsewhere to elsewhere", nil, serve(t, elsewhere+":0", redirectTo(serve(t, elsewhere+":0", serveModule).URL+"/m.wasm")).URL + "/a.wasm", ""},
		{"http to https", nil, serve(t, "127.0.0.1:0", redirectTo(tlsModule.URL+"/m.wasm")).URL + "/a.wasm", "changed the scheme from http"},
		{"to a name not .wasm", nil, serve(t, "127.0.0.1:0", redirectTo(local.URL+"/etc/passwd")).URL + "/a.wasm", "does not end in .wasm"},
		{"a loop of redirects", nil, "", fmt.Sprintf("more than %d redirects", maxRedirects)},
		{"first URL off the allow-list", []string{"plugins.example.com"}, local.URL + "/m.wasm", "is not among the hosts load_plugin may download from"},
		{"redirect off the allow-list", []string{"127.0.0.1"}, serve(t, "127.0.0.1:0", redirectTo("http://localhost:"+local.URL[strings.LastIndexByte(local.URL, ':')+1:]+"/m.wasm")).URL + "/a.wasm",
			"led to a host not among the hosts"},
		{"on the allow-list with its port", []string{strings.TrimPrefix(local.URL, "http://")}, local.URL + "/m.wasm", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first := tc.first
			if first == "" { // a server redirecting to itself
				var loop *httptest.Server
				loop = serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, loop.URL+"/again"+r.URL.Path, http.StatusFound)
				})
				first = loop.URL + "/a.wasm"
			}
			d, _ := newDownloads(tc.hosts...)
			got, err := fetchURL(t, d, first)
			switch {
			case tc.want == "" && (err != nil || string(got) != string(module)):
				t.Fatalf("got %q, %v; want the module", got, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %q, %v; want an error containing %q", got, err, tc.want)
			}
		})
	}
}

// What the far side answered reaches the neuron's log, not the command's
// outcome: not a non-HTTP service's banner, not a status, not the digest
// of what it sent. So load_plugin cannot map what listens where.
func TestLoadPlugin_OutcomeTellsNothingOfTheFarSide(t *testing.T) {
	banner := "SSH-2.0-OpenSSH_9.6 internal-build-server"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// Wait for the request's first line, then answer with the
			// banner: an answer that came before the request was written
			// would be dropped by net/http as unsolicited, and the log
			// would then have nothing of the far side to show.
			_, _ = bufio.NewReader(c).ReadString('\n')
			_, _ = c.Write([]byte(banner + "\r\n"))
			c.Close()
		}
	}()
	secret := []byte("internal answer: db password hunter2")
	sum := sha256.Sum256(secret)
	secretDigest := hex.EncodeToString(sum[:])
	api := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing.wasm" {
			http.Error(w, "no such thing on the admin console", http.StatusTeapot)
			return
		}
		_, _ = w.Write(secret)
	})
	want := sha256.Sum256(module)

	tests := []struct {
		name, url string
		hidden    []string // never in the outcome; one at least in the log
		outcome   string
	}{
		{"a service that is not HTTP", "http://" + ln.Addr().String() + "/x.wasm", []string{"SSH-2.0", "internal-build-server"}, "no module could be downloaded"},
		{"an error status", api.URL + "/missing.wasm", []string{"418", "teapot", "admin console"}, "no module could be downloaded"},
		{"another module", api.URL + "/secret.wasm", []string{secretDigest}, "sha256 mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, log := newDownloads()
			load := PluginCommands(noSwap{t}, t.TempDir(), d, nil, nil)["load_plugin"]
			data, _ := json.Marshal(map[string]string{"url": tc.url, "sha256": hex.EncodeToString(want[:])})
			if err := load.Check(data); err != nil {
				t.Fatal(err)
			}
			_, err := load.Run(context.Background(), data)
			if err == nil || !strings.Contains(err.Error(), tc.outcome) {
				t.Fatalf("outcome %v, want %q", err, tc.outcome)
			}
			for _, h := range tc.hidden {
				if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(h)) {
					t.Errorf("the outcome %q tells %q", err, h)
				}
			}
			logged := log.String()
			if !slices.ContainsFunc(tc.hidden, func(h string) bool { return strings.Contains(logged, h) }) {
				t.Errorf("the log tells none of %q:\n%s", tc.hidden, logged)
			}
		})
	}
}
