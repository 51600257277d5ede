package main

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/empirefederation/neuron/internal/testutil"
)

// oneLineStderr checks that a failed check said why on exactly one line.
func oneLineStderr(t *testing.T, r result) {
	t.Helper()
	if lines := strings.Count(r.stderr, "\n"); lines != 1 {
		t.Errorf("stderr has %d lines, want one:\n%s", lines, r.stderr)
	}
}

func TestHealth_Usage(t *testing.T) {
	t.Parallel()
	neuron(t, nil, "health", "--help").want(t, "neuron health --help", 0, "Usage: neuron health [--url URL]",
		`HEALTHCHECK CMD ["/neuron", "health"]`, "NEURON_LISTEN", "http://127.0.0.1:8080/health", "5s")
	neuron(t, nil, "health", "extra").want(t, "neuron health extra", 2, `unexpected argument "extra"`, "Usage:")
	neuron(t, nil, "health", "--port", "1").want(t, "neuron health --port 1", 2, "-port", "Usage:")
	neuron(t, nil, "health", "--url", "127.0.0.1:8080").want(t, "neuron health --url without a scheme", 2,
		"want an http:// or https:// URL")
	neuron(t, nil, "help").want(t, "neuron help", 0, "neuron health [--url URL]")
}

func TestHealth_Refused(t *testing.T) {
	t.Parallel()
	addr := testutil.ClosedAddr(t)
	r := neuron(t, []string{"NEURON_LISTEN=" + addr}, "health")
	r.want(t, "neuron health with nothing listening", 1, "http://"+addr+"/health", "connection refused")
	oneLineStderr(t, r)
	r = neuron(t, nil, "health", "--url", "http://"+addr+"/health")
	r.want(t, "neuron health --url with nothing listening", 1, "connection refused")
	oneLineStderr(t, r)
	r = neuron(t, []string{"NEURON_LISTEN=nowhere"}, "health")
	r.want(t, "neuron health with a bad listen setting", 1, "pass --url", "NEURON_LISTEN")
	oneLineStderr(t, r)
}

func TestHealth_Neuron(t *testing.T) {
	t.Parallel()
	s := startServer(t, pluginsDir(t, map[string]string{"hello.wasm": "examples/hello"}))
	addr := strings.TrimPrefix(s.base, "http://")
	neuron(t, nil, "health", "--url", s.base+"/health").want(t, "neuron health --url", 0, "healthy")
	// The default URL comes from the settings: the listen address, with an
	// unspecified host asked on loopback.
	_, port, _ := net.SplitHostPort(addr)
	neuron(t, []string{"NEURON_LISTEN=" + addr}, "health").want(t, "neuron health", 0, "http://"+addr+"/health: healthy")
	neuron(t, []string{"NEURON_LISTEN=:" + port}, "health").want(t, "neuron health, listen :PORT", 0, "http://127.0.0.1:"+port+"/health: healthy")
	neuron(t, []string{"NEURON_LISTEN=0.0.0.0:" + port}, "health").want(t, "neuron health, listen 0.0.0.0:PORT", 0, "healthy")
	// Another endpoint of the neuron answers, but not /health's JSON.
	r := neuron(t, nil, "health", "--url", s.base+"/hello/world")
	r.want(t, "neuron health --url of a processor", 1, `answered 200 OK, status ""`)
	oneLineStderr(t, r)
}

// A neuron whose required dependency is down answers /health 503: the
// check fails and names the dependency.
func TestHealth_Unhealthy(t *testing.T) {
	t.Parallel()
	dep := "api=http:http://" + testutil.ClosedAddr(t) + "/health"
	s := startServer(t, pluginsDir(t, map[string]string{"hello.wasm": "examples/hello"}), "NEURON_DEPENDENCIES="+dep)
	var r result
	testutil.Eventually(t, waitLimit, "neuron health to report the dependency down", func() bool {
		r = neuron(t, nil, "health", "--url", s.base+"/health")
		return r.code != 0 && strings.Contains(r.stderr, "api unhealthy")
	})
	r.want(t, "neuron health with a dependency down", 1, "503", `status "unhealthy"`, "api unhealthy")
	oneLineStderr(t, r)
}

// Over TLS the check asks https on loopback and accepts exactly the
// configured certificate: the neuron's passes, another one, even from the
// same CA and for the same names, does not.
func TestHealth_TLS(t *testing.T) {
	t.Parallel()
	ca := testutil.NewCA(t, "health test CA")
	serving, other := ca.Server(time.Time{}), ca.Server(time.Time{})
	tlsEnv := []string{"NEURON_TLS_CERT=" + serving.CertFile, "NEURON_TLS_KEY=" + serving.KeyFile}

	cmd := exec.Command(binary, "run")
	cmd.Dir = t.TempDir()
	cmd.Env = environ(append([]string{"NEURON_LISTEN=127.0.0.1:0", "NEURON_PLUGINS_DIR=" + t.TempDir(),
		"NEURON_DATA_DIR=" + t.TempDir()}, tlsEnv...)...)
	log := &testutil.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	spawn(t, cmd, func() string { return "neuron log:\n" + log.String() })
	var addr string
	testutil.Eventually(t, waitLimit, "the neuron to log its address", func() bool {
		m := listeningPattern.FindStringSubmatch(log.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	env := append([]string{"NEURON_LISTEN=" + addr}, tlsEnv...)
	neuron(t, env, "health").want(t, "neuron health over TLS", 0, "https://"+addr+"/health: healthy")
	r := neuron(t, []string{"NEURON_LISTEN=" + addr, "NEURON_TLS_CERT=" + other.CertFile, "NEURON_TLS_KEY=" + other.KeyFile}, "health")
	r.want(t, "neuron health expecting another certificate", 1, "does not present the certificate in "+other.CertFile)
	oneLineStderr(t, r)
	// --url verifies as any client does: the test CA is no system root.
	r = neuron(t, nil, "health", "--url", "https://"+addr+"/health")
	r.want(t, "neuron health --url https with an unknown CA", 1, "certificate")
	oneLineStderr(t, r)
}
