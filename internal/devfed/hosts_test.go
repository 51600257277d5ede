package devfed

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/internal/testutil"
)

// The attack review's DNS rebinding: the dashboard and admin API answered
// any Host. Now only IP literals, localhost and the configured names are
// answered; others get 421 saying how to add the name. Neurons and
// scrapers may use any name.
func TestHostCheck(t *testing.T) {
	f := newFed(t, func(o *Options) { o.AllowedHosts = []string{"Federation.Example"} })
	get := func(path, host, token string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, f.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	port := f.url[strings.LastIndex(f.url, ":"):]
	for _, host := range []string{"127.0.0.1" + port, "localhost" + port, "app.localhost", "[::1]" + port, "10.0.0.7",
		"federation.example" + port, "FEDERATION.EXAMPLE."} {
		for _, path := range []string{"/", "/api/admin/neurons"} {
			if resp := get(path, host, f.opts.AdminToken); resp.StatusCode != http.StatusOK {
				t.Errorf("Host %s %s: %d, want 200", host, path, resp.StatusCode)
			}
		}
	}
	for _, host := range []string{"evil.example" + port, "evil.example", "federation.example.evil.com", "localhost.evil.com"} {
		for _, path := range []string{"/", "/api/admin/neurons", "/api/admin/nothing"} {
			if resp := get(path, host, f.opts.AdminToken); resp.StatusCode != http.StatusMisdirectedRequest {
				t.Errorf("Host %s %s: %d, want 421", host, path, resp.StatusCode)
			}
		}
	}
	if !strings.Contains(f.logs.String(), "FEDERATION_ALLOWED_HOSTS") {
		t.Error("the refusal does not say how to allow a name")
	}
	// The wire routes answer any name.
	req, _ := http.NewRequest(http.MethodGet, f.url+"/metrics", nil)
	req.Host = "federation.internal"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/metrics by another name: %d", resp.StatusCode)
	}
}

// An admin token given must be at least MinAdminTokenLen characters; the
// refusal says how to make one.
func TestAdminTokenStrength(t *testing.T) {
	for _, weak := range []string{"x", "secret", strings.Repeat("a", MinAdminTokenLen-1)} {
		_, err := Open(Options{DataDir: t.TempDir(), AdminToken: weak})
		if err == nil || !strings.Contains(err.Error(), "openssl rand") {
			t.Errorf("admin token %q: %v, want a refusal saying how to make one", weak, err)
		}
	}
	dir := t.TempDir()
	writeFile(t, dir+"/"+AdminTokenFile, "short\n")
	if _, err := Open(Options{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("a short kept token: %v", err)
	}
}

// Listening beyond loopback is warned about; on loopback it is not.
func TestWarnBeyondLoopback(t *testing.T) {
	for _, c := range []struct {
		addr string
		warn bool
	}{{"127.0.0.1:0", false}, {"0.0.0.0:0", true}} {
		ln, err := net.Listen("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		logs := &testutil.Buffer{}
		d, err := Serve(ln, Options{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Stop(context.Background()); err != nil {
			t.Error(err)
		}
		if got := strings.Contains(logs.String(), "beyond loopback"); got != c.warn {
			t.Errorf("listening on %s: warned %v, want %v; logs:\n%s", c.addr, got, c.warn, logs)
		}
	}
}
