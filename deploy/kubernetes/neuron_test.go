package kubernetes

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/empirefederation/neuron/deploy/internal/deploytest"
)

// waitLimit bounds every wait on the neuron: generous, since the machine
// may be loaded; a wait ends as soon as its condition holds.
const waitLimit = 60 * time.Second

// neuronBinary is the neuron built from this repository.
func neuronBinary(t *testing.T) string { return deploytest.Neuron(t) }

// TestMain removes the neuron binary the tests built.
func TestMain(m *testing.M) { os.Exit(deploytest.Main(m)) }

// checkAgainstNeuron runs the neuron with the pod's settings (so the
// neuron's own parser checks their values) on loopback, and checks that
// every probe path answers 200 once it is ready, that it stops on SIGTERM
// by itself, and that the grace period exceeds its shutdown bound.
func checkAgainstNeuron(t *testing.T, r *rendered) {
	c := neuronContainer(t, r)
	vars := env(t, r, c)
	preStop, drainWait := drainHook(t, c)
	if grace, bound := r.statefulSet.Spec.Template.Spec.TerminationGracePeriodSeconds, shutdownBound(t, vars); grace == nil || time.Duration(*grace)*time.Second <= drainWait+bound {
		t.Errorf("terminationGracePeriodSeconds must exceed the preStop drain's wait %v plus NEURON_SHUTDOWN_TIMEOUT %v; got %s", drainWait, bound, seconds(grace))
	}

	tmp := t.TempDir()
	cmd := exec.Command(neuronBinary(t), c.Args...)
	cmd.Env = podEnv(c, vars, map[string]string{
		// Loopback and scratch directories instead of the pod's; the rest
		// as the pod has it.
		"NEURON_LISTEN":      "127.0.0.1:0",
		"NEURON_PLUGINS_DIR": mkdir(t, tmp, "plugins"),
		"NEURON_DATA_DIR":    mkdir(t, tmp, "data"),
		"TMPDIR":             mkdir(t, tmp, "tmp"),
		// Standalone: the overlay's federation is not on this machine.
		"FEDERATION_URL": "",
	})
	log := &deploytest.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the neuron: %v", err)
	}
	// done closes when the neuron has exited; exitErr is then its status.
	done := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})

	addr := waitFor(t, log, done, func() string {
		m := regexp.MustCompile(`msg="neuron listening" addr=(\S+)`).FindStringSubmatch(log.String())
		if m == nil {
			return ""
		}
		return m[1]
	})
	for _, probe := range []*corev1.Probe{c.StartupProbe, c.ReadinessProbe, c.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			continue // reported by checkWorkload
		}
		url := "http://" + addr + probe.HTTPGet.Path
		status := waitFor(t, log, done, func() string {
			resp, err := http.Get(url)
			if err != nil {
				return ""
			}
			_ = resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				return resp.Status
			case http.StatusServiceUnavailable:
				return "" // not ready yet
			}
			t.Fatalf("probe path %s: the neuron answers %s, want 200 (503 while it starts)", probe.HTTPGet.Path, resp.Status)
			return ""
		})
		t.Logf("GET %s: %s", probe.HTTPGet.Path, status)
	}

	// The preStop hook, run as the kubelet would (the image's /neuron is
	// the binary built here), drains the neuron: /ready answers 503.
	hook := exec.Command(neuronBinary(t), preStop[1:]...)
	hook.Env = cmd.Env
	if out, err := hook.CombinedOutput(); err != nil {
		t.Fatalf("the preStop hook %q: %v\n%s\nthe neuron's log:\n%s", preStop, err, out, log.String())
	}
	if resp, err := http.Get("http://" + addr + "/ready"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/ready after the preStop hook: %v %v, want 503", resp, err)
	} else {
		resp.Body.Close()
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-done:
		if exitErr != nil {
			t.Errorf("the neuron exited with %v after SIGTERM, want 0\n%s", exitErr, log.String())
		}
	case <-time.After(waitLimit):
		t.Errorf("the neuron did not stop within %v of SIGTERM\n%s", waitLimit, log.String())
	}
}

// drainHook returns the container's preStop command, which must be the
// image's `neuron drain`, and the wait it gives the drain.
func drainHook(t *testing.T, c *corev1.Container) ([]string, time.Duration) {
	t.Helper()
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil {
		t.Fatal("the container has no preStop exec hook: it must drain with /neuron drain before SIGTERM")
	}
	cmd := c.Lifecycle.PreStop.Exec.Command
	if len(cmd) < 2 || cmd[0] != "/neuron" || cmd[1] != "drain" {
		t.Fatalf("preStop %q: want /neuron drain [--wait DURATION]", cmd)
	}
	wait := 30 * time.Second // neuron drain's default
	for i, a := range cmd {
		if a == "--wait" && i+1 < len(cmd) {
			d, err := time.ParseDuration(cmd[i+1])
			if err != nil {
				t.Fatalf("preStop --wait %q: %v", cmd[i+1], err)
			}
			wait = d
		}
	}
	return cmd, wait
}

// podEnv is the environment the kubelet gives the container: vars with
// $(VAR) references expanded (POD_NAME and POD_IP as a pod on loopback
// would have them), then overrides.
func podEnv(c *corev1.Container, vars map[string]corev1.EnvVar, overrides map[string]string) []string {
	values := map[string]string{"POD_NAME": "neuron-0", "POD_IP": "127.0.0.1"}
	for name, v := range vars {
		if v.ValueFrom == nil {
			values[name] = v.Value
		}
	}
	// Container env entries expand references to those defined before.
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			values[e.Name] = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(e.Value, func(ref string) string {
				return values[strings.TrimSuffix(strings.TrimPrefix(ref, "$("), ")")]
			})
		}
	}
	for k, v := range overrides {
		values[k] = v
	}
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range values {
		out = append(out, k+"="+v)
	}
	return out
}

// waitFor polls cond until it returns something, the neuron exits, or
// waitLimit passes.
func waitFor(t *testing.T, log *deploytest.Buffer, done <-chan struct{}, cond func() string) string {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		if v := cond(); v != "" {
			return v
		}
		select {
		case <-done:
			t.Fatalf("the neuron exited with the manifests' settings:\n%s", log.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("condition not met within %v; the neuron's log:\n%s", waitLimit, log.String())
	return ""
}

// mkdir makes dir/name and returns its path.
func mkdir(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// seconds shows an optional count of seconds.
func seconds(s *int64) string {
	if s == nil {
		return "none"
	}
	return strconv.FormatInt(*s, 10) + "s"
}
