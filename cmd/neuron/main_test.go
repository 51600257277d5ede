package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/empirefederation/neuron/federation/fedtest"
	"github.com/empirefederation/neuron/internal/testutil"
)

// These tests run the neuron binary as users and scripts do: its commands,
// their output and exit statuses (the contract's 0, 1 and 2), and `neuron
// run` serving and shutting down on a signal.

// binary is the neuron binary TestMain builds.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "neuron-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "neuron")
	if goruntime.GOOS == "windows" {
		binary += ".exe"
	}
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building neuron: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// waitLimit bounds every wait, so that a bug shows up as a failure rather
// than a hang. It is never an assertion on speed.
const waitLimit = 20 * time.Second

// environ is the tests' environment with the variables the neuron reads
// removed, so that the caller's settings change nothing, plus extra
// (NAME=value pairs).
func environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "NEURON_") || strings.HasPrefix(name, "FEDERATION_") || name == "LOG_LEVEL" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// result is what a finished command did.
type result struct {
	code           int
	stdout, stderr string
}

// neuron runs the binary with args and env (NAME=value pairs) in a fresh
// working directory and waits for it to exit.
func neuron(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = environ(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) || ctx.Err() != nil {
		t.Fatalf("neuron %q: %v (ctx %v)\nstderr: %s", args, err, ctx.Err(), stderr.Bytes())
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// want checks the exit status and that each of the strings is in stdout
// (for status 0) or stderr (otherwise).
func (r result) want(t *testing.T, what string, code int, in ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", what, r.code, code, r.stdout, r.stderr)
		return
	}
	out, name := r.stdout, "stdout"
	if code != 0 {
		out, name = r.stderr, "stderr"
	}
	for _, s := range in {
		if !strings.Contains(out, s) {
			t.Errorf("%s: %s lacks %q:\n%s", what, name, s, out)
		}
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	t.Run("no command", func(t *testing.T) {
		r := neuron(t, nil)
		r.want(t, "neuron", 2, "Usage:", "neuron run")
		if r.stdout != "" {
			t.Errorf("usage error wrote to stdout: %s", r.stdout)
		}
	})
	for _, arg := range []string{"help", "--help", "-h"} {
		neuron(t, nil, arg).want(t, "neuron "+arg, 0, "Usage:", "neuron run", "neuron plugin inspect", "neuron version")
	}
	t.Run("unknown command", func(t *testing.T) {
		neuron(t, nil, "frobnicate").want(t, "neuron frobnicate", 2, `unknown command "frobnicate"`, "Usage:")
	})
	t.Run("version", func(t *testing.T) {
		r := neuron(t, nil, "version")
		r.want(t, "neuron version", 0)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		want := []string{"neuron ", "commit ", "built ", "go " + goruntime.Version(), "wazero v1.12.0", "abi v1"}
		if len(lines) != len(want) {
			t.Fatalf("neuron version printed %d lines, want %d:\n%s", len(lines), len(want), r.stdout)
		}
		for i, w := range want {
			if !strings.HasPrefix(lines[i], w) || strings.HasSuffix(w, " ") && len(lines[i]) == len(w) {
				t.Errorf("line %d is %q, want %q", i+1, lines[i], w)
			}
		}
	})
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	neuron(t, nil, "run", "--help").want(t, "neuron run --help", 0,
		"Usage: neuron run", "-listen ADDR", "-plugins-dir DIR", "NEURON_LISTEN", "NEURON_PLUGINS_DIR", "LOG_LEVEL")
	neuron(t, nil, "run", "--bogus").want(t, "neuron run --bogus", 2, "-bogus", "neuron run --help")
	neuron(t, nil, "run", "extra").want(t, "neuron run extra", 2, `unexpected argument "extra"`)
	neuron(t, nil, "run", "--listen").want(t, "neuron run --listen", 2, "listen")
	neuron(t, []string{"NEURON_POOL_MAX=-1"}, "run").want(t, "neuron run with NEURON_POOL_MAX=-1", 1,
		"invalid configuration", "limits.poolMax", "NEURON_POOL_MAX", "-1")
	neuron(t, nil, "run", "--log-level", "loud", "--listen", "nowhere").want(t, "neuron run with two bad flags", 1,
		"logLevel", "--log-level", "listen", "--listen")
	neuron(t, nil, "run", "--config", "missing.yaml").want(t, "neuron run --config missing.yaml", 1, "missing.yaml")
}

// hello returns a copy of the hello example module in a fresh directory.
func hello(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(testutil.BuildWasm(t, "examples/hello"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hello.wasm")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestPlugin(t *testing.T) {
	t.Parallel()
	mod := hello(t)
	sum := fileSHA256(t, mod)
	junk := filepath.Join(t.TempDir(), "junk.wasm")
	if err := os.WriteFile(junk, []byte("#!/bin/sh\necho not wasm\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("usage", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{{"plugin"}, {"plugin", "--help"}} {
			neuron(t, nil, args...).want(t, strings.Join(args, " "), 0, "neuron plugin inspect", "neuron plugin validate", "neuron plugin new")
		}
		// Each command has its own usage: its help, and the answer to a
		// mistake (exit 2), which is that usage and nothing else's.
		for _, tc := range []struct {
			args []string
			code int
			want []string
		}{
			{[]string{"plugin", "validate", "--help"}, 0, []string{"Usage: neuron plugin validate [--config FILE] FILE.wasm", "exactly as 'neuron run'"}},
			{[]string{"plugin", "inspect", "-h"}, 0, []string{"Usage: neuron plugin inspect [--json] [--config FILE] FILE.wasm"}},
			{[]string{"plugin", "new", "--help"}, 0, []string{"Usage: neuron plugin new [--sdk DIR] [--module PATH] NAME", "sdk/vX.Y.Z"}},
			{[]string{"plugin", "validate"}, 2, []string{"neuron plugin validate: missing argument", "Usage: neuron plugin validate"}},
			{[]string{"plugin", "inspect"}, 2, []string{"neuron plugin inspect: missing argument", "Usage: neuron plugin inspect"}},
			{[]string{"plugin", "new"}, 2, []string{"neuron plugin new: missing argument", "Usage: neuron plugin new"}},
			{[]string{"plugin", "validate", mod, mod}, 2, []string{"expected one argument", "Usage: neuron plugin validate"}},
			{[]string{"plugin", "inspect", "--yaml", mod}, 2, []string{"-yaml", "Usage: neuron plugin inspect"}},
			{[]string{"plugin", "frob", mod}, 2, []string{`neuron plugin: unknown command "frob"`, "neuron plugin new"}},
		} {
			r := neuron(t, nil, tc.args...)
			what := strings.Join(tc.args, " ")
			r.want(t, what, tc.code, tc.want...)
			if tc.code == 2 && tc.args[1] != "frob" && strings.Count(r.stderr, "Usage:") != 1 {
				t.Errorf("%s: stderr holds another command's usage too:\n%s", what, r.stderr)
			}
		}
	})
	t.Run("validate", func(t *testing.T) {
		t.Parallel()
		neuron(t, nil, "plugin", "validate", mod).want(t, "validate hello.wasm", 0,
			"ok: "+mod+" is hello@1.0.0, ABI v1, 1 endpoint\n")
		neuron(t, nil, "plugin", "validate", junk).want(t, "validate junk.wasm", 1, "junk.wasm", "not a WebAssembly module")
		missing := filepath.Join(t.TempDir(), "missing.wasm")
		neuron(t, nil, "plugin", "validate", missing).want(t, "validate missing.wasm", 1, "missing.wasm")
	})
	t.Run("inspect", func(t *testing.T) {
		t.Parallel()
		r := neuron(t, nil, "plugin", "inspect", mod)
		r.want(t, "inspect hello.wasm", 0)
		for _, pattern := range []string{
			`(?m)^name +hello$`,
			`(?m)^version +1\.0\.0$`,
			`(?m)^sha256 +` + sum + `$`,
			`(?m)^file +` + regexp.QuoteMeta(mod) + ` \(\d+ bytes\)$`,
			`(?m)^abi +v1$`,
			`(?m)^limits +memory 2048 pages \(128 MiB\), timeout 10s, body 4 MiB, response 8 MiB, pool 1\.\.8, queue 256, start 5s$`,
			`(?m)^endpoints:\n +GET +/hello/\{name\} +neuron_handle +- +Greets someone$`,
			`(?m)^exports: .*\bneuron_handle\b`,
		} {
			if !regexp.MustCompile(pattern).MatchString(r.stdout) {
				t.Errorf("inspect output does not match %s:\n%s", pattern, r.stdout)
			}
		}
		neuron(t, nil, "plugin", "inspect", junk).want(t, "inspect junk.wasm", 1, "not a WebAssembly module")

		// A sidecar's access marks show in the endpoints' access column.
		dir := t.TempDir()
		b, err := os.ReadFile(mod)
		if err != nil {
			t.Fatal(err)
		}
		guarded := filepath.Join(dir, "hello.wasm")
		if err := os.WriteFile(guarded, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "hello.json"), []byte(`{"name": "hello", "version": "1.0.0", "endpoints": [
			{"method": "GET", "path": "/hello/{name}", "scopes": ["greet:read", "greet:all"]},
			{"method": "GET", "path": "/ping", "public": true}]}`), 0o644); err != nil {
			t.Fatal(err)
		}
		r = neuron(t, nil, "plugin", "inspect", guarded)
		r.want(t, "inspect hello.wasm with a sidecar", 0)
		if !regexp.MustCompile(`(?m)^endpoints:\n +GET +/hello/\{name\} +neuron_handle +scopes greet:read,greet:all *\n +GET +/ping +neuron_handle +public *$`).MatchString(r.stdout) {
			t.Errorf("inspect with access marks:\n%s", r.stdout)
		}
	})
	t.Run("inspect json", func(t *testing.T) {
		t.Parallel()
		r := neuron(t, nil, "plugin", "inspect", "--json", mod)
		r.want(t, "inspect --json hello.wasm", 0)
		var got struct {
			Path     string `json:"path"`
			Size     int    `json:"size"`
			SHA256   string `json:"sha256"`
			ABI      int    `json:"abiVersion"`
			Manifest struct {
				Name      string `json:"name"`
				Version   string `json:"version"`
				Endpoints []struct {
					Method, Path string
				} `json:"endpoints"`
			} `json:"manifest"`
			Exports []string       `json:"exports"`
			Limits  map[string]any `json:"limits"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("inspect --json output is not JSON: %v\n%s", err, r.stdout)
		}
		m := got.Manifest
		if got.Path != mod || got.Size <= 0 || got.SHA256 != sum || got.ABI != 1 || m.Name != "hello" || m.Version != "1.0.0" ||
			len(m.Endpoints) != 1 || m.Endpoints[0].Method != "GET" || m.Endpoints[0].Path != "/hello/{name}" || len(got.Exports) == 0 {
			t.Errorf("inspect --json: %+v\nwant hello 1.0.0 at %s with sha256 %s and GET /hello/{name}", got, mod, sum)
		}
		// The limits read as a manifest and the configuration write them.
		wantLimits := map[string]any{"memoryPages": 2048.0, "callTimeout": "10s", "maxBodyBytes": 4194304.0, "maxResponseBytes": 8388608.0,
			"poolMin": 1.0, "poolMax": 8.0, "poolQueue": 256.0, "startTimeout": "5s"}
		if !reflect.DeepEqual(got.Limits, wantLimits) {
			t.Errorf("inspect --json limits %v, want %v", got.Limits, wantLimits)
		}
	})
}

// server is a running `neuron run`.
type server struct {
	cmd    *exec.Cmd
	log    *testutil.Buffer // stdout and stderr
	base   string           // http://host:port
	data   string           // its data directory
	exited <-chan struct{}
	client *http.Client
}

// spawn starts cmd and returns a channel closed once it has exited. When
// the test ends the process is killed if it still runs, and, if the test
// failed, what output returns is logged.
func spawn(t testing.TB, cmd *exec.Cmd, output func() string) <-chan struct{} {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Log(output())
		}
	})
	return exited
}

var listeningPattern = regexp.MustCompile(`msg="neuron listening" addr=(\S+)`)

// sharedCache is the compilation cache the other tests use too; each
// neuron's data directory links its cache there, so that a warm cache
// saves compiling the modules again.
var sharedCache = filepath.Join(os.TempDir(), "neuron-test-cache")

// startServer starts `neuron run` on a port of its choosing, serving the
// modules in plugins, with env (NAME=value pairs) added, and waits until it
// is ready. It is killed when the test ends if it is still running.
func startServer(t testing.TB, plugins string, env ...string) *server {
	t.Helper()
	data := t.TempDir()
	if err := os.MkdirAll(sharedCache, 0o750); err == nil {
		_ = os.Symlink(sharedCache, filepath.Join(data, "cache")) // else the neuron compiles afresh
	}
	cmd := exec.Command(binary, "run")
	cmd.Dir = t.TempDir()
	cmd.Env = environ(append([]string{"NEURON_LISTEN=127.0.0.1:0", "NEURON_PLUGINS_DIR=" + plugins,
		"NEURON_DATA_DIR=" + data, "LOG_LEVEL=debug"}, env...)...)
	s := &server{cmd: cmd, data: data, log: &testutil.Buffer{}, client: &http.Client{Timeout: waitLimit}}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	s.exited = spawn(t, cmd, func() string { return "neuron log:\n" + s.log.String() })
	testutil.Eventually(t, waitLimit, "the neuron to log its address", func() bool {
		if m := listeningPattern.FindStringSubmatch(s.log.String()); m != nil {
			s.base = "http://" + m[1]
			return true
		}
		return s.hasExited()
	})
	testutil.Eventually(t, waitLimit, "the neuron to be ready", func() bool {
		if s.hasExited() {
			t.Fatalf("the neuron exited with %v before it was ready", cmd.ProcessState)
		}
		resp, err := s.client.Get(s.base + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
}

func (s *server) hasExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// signal sends sig to the neuron.
func (s *server) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the neuron to exit and returns its exit status.
func (s *server) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(waitLimit):
		t.Fatalf("the neuron did not exit within %v", waitLimit)
		return -1
	}
}

// get sends GET path and reads the whole answer.
func (s *server) get(path string) (int, []byte, error) {
	resp, err := s.client.Get(s.base + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// pluginsDir returns a fresh directory holding the modules built from the
// packages, by file name.
func pluginsDir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, pkg := range files {
		b, err := os.ReadFile(testutil.BuildWasm(t, pkg))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func skipWithoutSignals(t *testing.T) {
	if goruntime.GOOS == "windows" {
		t.Skip("no SIGTERM or SIGINT to send on Windows")
	}
}

func TestRun_Signals(t *testing.T) {
	skipWithoutSignals(t)
	t.Parallel()
	plugins := pluginsDir(t, map[string]string{"hello.wasm": "examples/hello"})
	for _, tc := range []struct {
		name string
		sig  os.Signal
	}{{"SIGTERM", syscall.SIGTERM}, {"SIGINT", syscall.SIGINT}} {
		sig := tc.sig
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, plugins)
			status, body, err := s.get("/hello/world")
			if err != nil || status != http.StatusOK || !strings.Contains(string(body), `"Hello, world!"`) {
				t.Errorf("GET /hello/world: %d %s %v", status, body, err)
			}
			s.signal(t, sig)
			if code := s.wait(t); code != 0 {
				t.Errorf("exit %d after %v, want 0", code, sig)
			}
			if log := s.log.String(); !strings.Contains(log, `msg="shutting down"`) {
				t.Errorf("log lacks the shutdown message")
			}
		})
	}
}

// TestRun_InFlight sends SIGTERM while a call runs: the neuron stops
// accepting connections, lets the call end at its own deadline, answers it
// whole, and exits 0.
func TestRun_InFlight(t *testing.T) {
	skipWithoutSignals(t)
	t.Parallel()
	plugins := pluginsDir(t, map[string]string{"loop.wasm": "runtime/testdata/guests/loop"})
	s := startServer(t, plugins, "NEURON_CALL_TIMEOUT=2s", "NEURON_SHUTDOWN_TIMEOUT=10s")

	type answer struct {
		status int
		header http.Header
		body   []byte
		err    error
	}
	spin := make(chan answer, 1)
	go func() {
		resp, err := s.client.Get(s.base + "/t/loop/spin")
		if err != nil {
			spin <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		spin <- answer{resp.StatusCode, resp.Header, b, err}
	}()
	testutil.Eventually(t, waitLimit, "the spin to hold an instance", func() bool {
		status, body, err := s.get("/metrics")
		return err == nil && status == http.StatusOK &&
			strings.Contains(string(body), `plugin="loop",state="busy",version="1.0.0"} 1`+"\n") // neuron_pool_instances, digest label first
	})
	s.signal(t, syscall.SIGTERM)

	// While the call drains, new connections are refused.
	addr := strings.TrimPrefix(s.base, "http://")
	testutil.Eventually(t, waitLimit, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	select {
	case a := <-spin:
		t.Fatalf("the call in flight ended (%d %s %v) before the listener closed", a.status, a.body, a.err)
	default:
	}

	a := <-spin
	if a.err != nil {
		t.Fatalf("the call in flight at SIGTERM failed: %v", a.err)
	}
	var e struct{ Error, Code string }
	if a.status != http.StatusGatewayTimeout || json.Unmarshal(a.body, &e) != nil || e.Code != "timeout" || e.Error == "" {
		t.Errorf("the call in flight at SIGTERM got %d %s; want its own 504 timeout", a.status, a.body)
	}
	if got := a.header.Get("X-Neuron-Plugin"); got != "loop@1.0.0" {
		t.Errorf("X-Neuron-Plugin %q, want loop@1.0.0", got)
	}
	if code := s.wait(t); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	log := s.log.String()
	shutdown, failed := strings.Index(log, `msg="shutting down" timeout=10s`), strings.Index(log, `msg="processor call failed"`)
	if shutdown < 0 || failed < shutdown {
		t.Errorf("log does not show the shutdown (at %d) before the call's timeout (at %d)", shutdown, failed)
	}
	if strings.Contains(log, "did not finish in time") {
		t.Errorf("the shutdown timed out")
	}
}

// TestRun_Kill9LosesNothing: analytics recorded during a federation outage
// survive a kill -9 of the neuron and reach the federation after a restart,
// counted exactly once.
func TestRun_Kill9LosesNothing(t *testing.T) {
	skipWithoutSignals(t)
	t.Parallel()
	fed := fedtest.New(t)
	plugins := pluginsDir(t, map[string]string{"hello.wasm": "examples/hello"})
	data := t.TempDir()
	env := []string{"FEDERATION_URL=" + fed.URL(), "NEURON_DATA_DIR=" + data, "NEURON_ID=kill9",
		"NEURON_HEARTBEAT_INTERVAL=100ms", "NEURON_ANALYTICS_INTERVAL=100ms", "NEURON_CONFIG_POLL_INTERVAL=1s"}
	s := startServer(t, plugins, env...)
	testutil.Eventually(t, waitLimit, "registration", func() bool { return len(fed.Heartbeats()) > 0 })

	fed.Down()
	const requests = 25
	for i := range requests {
		if status, body, err := s.get(fmt.Sprintf("/hello/k%d", i)); err != nil || status != http.StatusOK {
			t.Fatalf("request %d during the outage: %d %s %v", i, status, body, err)
		}
	}
	// Once a report built after the last request is on disk, every request
	// is: reports are appended in order and each covers everything before.
	spooled := func() float64 {
		_, body, err := s.get("/metrics")
		if err != nil {
			return -1
		}
		v, _ := testutil.SumSamples(t, string(body), "neuron_analytics_spool_reports")
		return v
	}
	after := spooled()
	testutil.Eventually(t, waitLimit, "a report spooled after the last request", func() bool { return spooled() > after })
	s.signal(t, syscall.SIGKILL)
	s.wait(t)

	fed.Up()
	s = startServer(t, plugins, env...)
	testutil.Eventually(t, waitLimit, "the outage's requests in analytics", func() bool {
		return fed.SumAnalytics().TotalRequests >= requests
	})
	if got := fed.SumAnalytics().TotalRequests; got != requests {
		t.Errorf("analytics count %d requests, want exactly %d", got, requests)
	}
	if hb := fed.Heartbeats(); hb[len(hb)-1].BuildVersion == "" {
		t.Errorf("heartbeat without buildVersion")
	}
}
