package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/devfed"
	"github.com/empirefederation/neuron/internal/testutil"
)

// These tests run `neuron federation serve` as a developer does: its help
// and exit statuses, then the real binary on a loopback port, with a
// neuron registering over HTTP and the admin API answering only with the
// token.

func TestFederationUsage(t *testing.T) {
	t.Parallel()
	teach := []string{"Usage: neuron federation serve", "-listen ADDR", "-data DIR", "-admin-token TOKEN", "FEDERATION_ADMIN_TOKEN",
		"-heartbeat-interval PERIOD", "-retention AGE", "-neuron-expiry AGE", "-max-neurons N", "-allowed-hosts NAMES", "FEDERATION_ALLOWED_HOSTS", "-token-ttl LIFETIME", "FEDERATION_TOKEN_TTL", "http://ADDR/#token=TOKEN", "/api/admin/", "FEDERATION_URL=embedded neuron run",
		"FEDERATION_URL=http://127.0.0.1:5000", "127.0.0.1:5000"}
	for _, args := range [][]string{{"federation", "--help"}, {"federation", "serve", "--help"}, {"federation", "serve", "-h"}} {
		neuron(t, nil, args...).want(t, strings.Join(args, " "), 0, teach...)
	}
	neuron(t, nil, "--help").want(t, "neuron --help", 0, "neuron federation serve")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"federation"}, []string{"expected 'serve'", "Usage: neuron federation serve"}},
		{[]string{"federation", "frob"}, []string{`unknown command "frob"`}},
		{[]string{"federation", "serve", "--bogus"}, []string{"-bogus", "neuron federation serve --help"}},
		{[]string{"federation", "serve", "extra"}, []string{`unexpected argument "extra"`}},
		{[]string{"federation", "serve", "--listen", "nowhere"}, []string{`--listen "nowhere"`, "host:port"}},
		{[]string{"federation", "serve", "--heartbeat-interval", "0s", "--retention", "-1h"}, []string{"--heartbeat-interval 0s", "--retention -1h0m0s"}},
		{[]string{"federation", "serve", "--heartbeat-interval", "often"}, []string{"heartbeat-interval", "often"}},
		{[]string{"federation", "serve", "--log-level", "loud", "--data", ""}, []string{`--log-level "loud"`, "--data"}},
		{[]string{"federation", "serve", "--admin-token", "short"}, []string{"--admin-token", "fewer than 16", "openssl rand"}},
		{[]string{"federation", "serve", "--token-ttl", "soon"}, []string{`--token-ttl (or FEDERATION_TOKEN_TTL) "soon"`, "0 for tokens that never expire"}},
		{[]string{"federation", "serve", "--neuron-expiry", "4m", "--max-neurons", "0"}, []string{"--neuron-expiry 4m0s", "offline period", "--max-neurons 0"}},
	} {
		neuron(t, nil, tc.args...).want(t, strings.Join(tc.args, " "), 2, tc.want...)
	}
}

// --token-ttl, with FEDERATION_TOKEN_TTL as its default, becomes
// devfed.Options.TokenTTL: 0 is NoExpiry, under a second is refused.
func TestFederationFlags_TokenTTL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  string
		args []string
		want time.Duration
		err  string
	}{
		{want: devfed.DefaultTokenTTL},
		{env: "90s", want: 90 * time.Second},
		{env: "90s", args: []string{"--token-ttl", "2m"}, want: 2 * time.Minute},
		{args: []string{"--token-ttl", "0"}, want: devfed.NoExpiry},
		{args: []string{"--token-ttl", "500ms"}, err: "--token-ttl (or FEDERATION_TOKEN_TTL) 500ms: at least 1s"},
		{args: []string{"--token-ttl", "-1h"}, err: "at least 1s"},
		{env: "soon", err: `--token-ttl (or FEDERATION_TOKEN_TTL) "soon": want a duration`},
	} {
		var f federationFlags
		fs := federationFlagSet(&f, func(name string) string {
			if name == "FEDERATION_TOKEN_TTL" {
				return tc.env
			}
			return ""
		})
		err := fs.Parse(tc.args)
		if err == nil {
			err = f.check(fs)
		}
		switch {
		case tc.err == "" && (err != nil || f.tokenTTL != tc.want):
			t.Errorf("env %q, args %q: TokenTTL %v (%v), want %v", tc.env, tc.args, f.tokenTTL, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("env %q, args %q: %v, want an error saying %q", tc.env, tc.args, err, tc.err)
		}
	}
}

// TestFederationServe_AddressTaken: another process holds the address; the
// federation says which and what to do, and exits 1.
func TestFederationServe_AddressTaken(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	neuron(t, nil, "federation", "serve", "--listen", addr, "--data", t.TempDir()).want(t, "serve on a taken address", 1,
		"cannot listen on "+addr, "--listen")
}

// devFederation is a running `neuron federation serve`.
type devFederation struct {
	cmd            *exec.Cmd
	stdout, stderr *testutil.Buffer
	exited         <-chan struct{}
	url, token     string
}

var dashboardPattern = regexp.MustCompile(`(?m)^dashboard: (http://[^/]+)/#token=(\S+)$`)

// startFederation starts `neuron federation serve` on a free loopback port
// with data in dir and env (NAME=value pairs), and waits for its dashboard
// address. It is killed when the test ends if it is still running.
func startFederation(t *testing.T, dir string, env ...string) *devFederation {
	t.Helper()
	cmd := exec.Command(binary, "federation", "serve", "--listen", "127.0.0.1:0", "--data", dir)
	cmd.Dir = t.TempDir()
	cmd.Env = environ(env...)
	f := &devFederation{cmd: cmd, stdout: &testutil.Buffer{}, stderr: &testutil.Buffer{}}
	cmd.Stdout, cmd.Stderr = f.stdout, f.stderr
	f.exited = spawn(t, cmd, func() string { return fmt.Sprintf("federation stdout:\n%s\nstderr:\n%s", f.stdout, f.stderr) })
	testutil.Eventually(t, waitLimit, "the dashboard address", func() bool {
		select {
		case <-f.exited:
			t.Fatalf("neuron federation serve exited with %v", cmd.ProcessState)
		default:
		}
		m := dashboardPattern.FindStringSubmatch(f.stdout.String())
		if m == nil {
			return false
		}
		token, err := url.QueryUnescape(m[2])
		if err != nil {
			t.Fatalf("dashboard token %q: %v", m[2], err)
		}
		f.url, f.token = m[1], token
		return true
	})
	return f
}

// call sends a request with an optional bearer and JSON body and returns
// the status and the decoded answer.
func (f *devFederation) call(t *testing.T, method, path, bearer, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: waitLimit}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, v
}

// neurons lists the ids and statuses of GET /api/admin/neurons.
func (f *devFederation) neurons(t *testing.T) map[string]string {
	t.Helper()
	status, v := f.call(t, "GET", "/api/admin/neurons", f.token, "")
	list, _ := v["data"].([]any)
	if status != http.StatusOK || v["success"] != true {
		t.Fatalf("GET /api/admin/neurons with the token: %d %v", status, v)
	}
	out := map[string]string{}
	for _, it := range list {
		n, _ := it.(map[string]any)
		id, _ := n["id"].(string)
		out[id], _ = n["status"].(string)
	}
	return out
}

// stop sends sig and checks that the federation stops cleanly.
func (f *devFederation) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := f.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	<-f.exited // the test's own timeout bounds this
	if code := f.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit %d after %v, want 0", code, sig)
	}
	if !strings.Contains(f.stderr.String(), `msg="development federation stopped"`) {
		t.Errorf("the log does not say the federation stopped:\n%s", f.stderr)
	}
}

func TestFederationServe(t *testing.T) {
	skipWithoutSignals(t)
	t.Parallel()
	dir := t.TempDir()
	f := startFederation(t, dir)
	if len(f.token) < 40 {
		t.Errorf("generated admin token %q: want 32 random bytes in base64url", f.token)
	}
	if !strings.Contains(f.stdout.String(), "FEDERATION_URL="+f.url) {
		t.Errorf("stdout does not say how a neuron joins:\n%s", f.stdout)
	}

	status, v := f.call(t, "POST", "/api/neuron/register", "", `{"neuronId": "cmd-test-1", "name": "Cmd Test", "type": "test",
		"baseUrl": "http://127.0.0.1:1", "apiEndpoints": [{"path": "/process", "method": "POST"}]}`)
	data, _ := v["data"].(map[string]any)
	if status != http.StatusCreated || data["token"] == "" || data["neuronId"] != "cmd-test-1" {
		t.Fatalf("register: %d %v", status, v)
	}
	for _, bearer := range []string{"", "wrong-token", f.token + "x"} {
		if status, v := f.call(t, "GET", "/api/admin/neurons", bearer, ""); status != http.StatusUnauthorized || v["success"] != false {
			t.Errorf("GET /api/admin/neurons with bearer %q: %d %v, want 401", bearer, status, v)
		}
	}
	if got := f.neurons(t); got["cmd-test-1"] != "registered" {
		t.Errorf("neurons %v, want cmd-test-1 registered", got)
	}
	f.stop(t, syscall.SIGINT)

	// Again on the same data, with the token from the environment: the
	// fleet is still there.
	f = startFederation(t, dir, "FEDERATION_ADMIN_TOKEN=my-dev-token-0123456789")
	if f.token != "my-dev-token-0123456789" {
		t.Errorf("dashboard token %q, want FEDERATION_ADMIN_TOKEN's", f.token)
	}
	if got := f.neurons(t); got["cmd-test-1"] == "" {
		t.Errorf("neurons %v after a restart on the same data, want cmd-test-1", got)
	}
	f.stop(t, syscall.SIGTERM)
}
