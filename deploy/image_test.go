//go:build linux

package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/empirefederation/neuron/deploy/internal/deploytest"
)

// The image test does what docs/deploy.md, "The image", tells an operator
// on a machine without a Docker daemon: make image, then buildah from and
// buildah run. It then asks the running container for /health and a
// processor's endpoint over loopback, runs the image's health check in it,
// and checks the image's configuration as buildah records it.

// buildahArgs are buildah's global flags, as the Makefile's BUILDAH: vfs
// storage needs no kernel overlay support, and is what CI has.
var buildahArgs = []string{"--storage-driver", "vfs"}

// unavailable skips a test for want of a tool CI installs, or fails it when
// NEURON_TEST_SERVICES is "required", as .ci/run sets it: the neuron
// module's testutil.Unavailable, which this module cannot import.
func unavailable(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("NEURON_TEST_SERVICES") == "required" {
		t.Fatalf("%s (NEURON_TEST_SERVICES=required, so this fails instead of skipping)", why)
	}
	t.Skip(why)
}

// command runs name with args in dir and returns its standard output,
// failing the test with both outputs if it fails.
func command(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // make image compiles
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String()
}

func buildah(t *testing.T, args ...string) string {
	t.Helper()
	return strings.TrimSpace(command(t, "", "buildah", append(slices.Clone(buildahArgs), args...)...))
}

func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: building and running the image takes minutes")
	}
	if _, err := exec.LookPath("buildah"); err != nil {
		unavailable(t, "no buildah to build and run the image: apt-get install buildah (Debian), as .ci/run does")
	}
	if os.Geteuid() != 0 {
		unavailable(t, "buildah with chroot isolation runs containers as root here; run the test as root, as CI does")
	}
	start := time.Now()
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// A tag and a build context of the test's own, so that it neither
	// takes another build's bin/image nor leaves an image behind.
	image := fmt.Sprintf("neuron:imagetest-%d", os.Getpid())
	command(t, repo, "make", "image", "IMAGE_BUILDER=buildah", "IMAGE="+image, "IMAGE_CONTEXT="+t.TempDir())
	t.Cleanup(func() { _ = exec.Command("buildah", append(slices.Clone(buildahArgs), "rmi", "-f", image)...).Run() })
	t.Logf("make image: %v", time.Since(start).Round(time.Second))

	t.Run("config", func(t *testing.T) { checkImageConfig(t, image) })

	// The documented run command, with the one setting a shared machine
	// needs changed: the port, as buildah config --env changes any.
	ctr := buildah(t, "from", "--name", fmt.Sprintf("neuron-imagetest-%d", os.Getpid()), image)
	t.Cleanup(func() { _ = exec.Command("buildah", append(slices.Clone(buildahArgs), "rm", ctr)...).Run() })
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	buildah(t, "config", "--env", "NEURON_LISTEN="+addr, ctr)
	run := exec.Command("buildah", append(slices.Clone(buildahArgs), "run", "--isolation", "chroot", "--network", "host", ctr, "/neuron", "run")...)
	run.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log := &deploytest.Buffer{}
	run.Stdout, run.Stderr = log, log
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = run.Wait(); close(exited) }()
	// kill ends buildah run and everything it started; buildah itself
	// answers SIGTERM by killing the container's process, without its drain.
	kill := func() {
		select {
		case <-exited:
		default:
			_ = syscall.Kill(-run.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	t.Cleanup(func() {
		kill()
		if t.Failed() {
			t.Logf("the container's output:\n%s", log.String())
		}
	})

	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (int, string) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var status int
	var body string
	if err := poll("the container to serve /health", func() error {
		select {
		case <-exited:
			return fmt.Errorf("buildah run exited before the neuron served: %v: %w", run.ProcessState, errFinal)
		default:
		}
		if status, body = get("/health"); status != http.StatusOK || !strings.Contains(body, `"hello@1.0.0":"serving"`) {
			return fmt.Errorf("/health answered %d %s", status, body)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `"status":"healthy"`) {
		t.Errorf("/health answered %d %s", status, body)
	}
	t.Logf("serving /health: %v since the start", time.Since(start).Round(time.Second))
	if status, body := get("/hello/world"); status != http.StatusOK || !strings.Contains(body, "Hello, world!") {
		t.Errorf("/hello/world answered %d %s", status, body)
	}
	// The HEALTHCHECK's command, inside the container as a runtime runs
	// it: no shell, the settings from the image's environment.
	if out := buildah(t, "run", "--isolation", "chroot", "--network", "host", ctr, "/neuron", "health"); !strings.Contains(out, "http://"+addr+"/health: healthy") {
		t.Errorf("/neuron health in the container printed %q", out)
	}
	if out := buildah(t, "run", "--isolation", "chroot", ctr, "/neuron", "version"); !strings.Contains(out, "built 20") || strings.Contains(out, "commit none") {
		t.Errorf("the image's binary is not stamped with its commit and build date:\n%s", out)
	}
	// Another command, writing its scratch directory under TMPDIR, /tmp.
	buildah(t, "run", "--isolation", "chroot", ctr, "/neuron", "plugin", "validate", "/plugins/hello.wasm")
	if !strings.Contains(log.String(), "plugins_dir=/plugins") {
		t.Errorf("the neuron did not serve /plugins:\n%s", log.String())
	}

	// Stopped as a runtime stops a container, SIGTERM to its process, the
	// neuron drains and exits 0, and buildah run with it.
	neuron := containerProcess(t, run.Process.Pid, "/neuron\x00run\x00")
	if err := syscall.Kill(neuron, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to the container's neuron (pid %d): %v", neuron, err)
	}
	select {
	case <-exited:
		if !run.ProcessState.Success() || !strings.Contains(log.String(), "shutting down") {
			t.Errorf("after SIGTERM the container exited with %v:\n%s", run.ProcessState, log.String())
		}
	case <-time.After(pollLimit):
		t.Fatalf("the container still runs %v after SIGTERM", pollLimit)
	}
	health := exec.Command("buildah", append(slices.Clone(buildahArgs), "run", "--isolation", "chroot", "--network", "host", ctr, "/neuron", "health")...)
	if out, err := health.CombinedOutput(); err == nil || !strings.Contains(string(out), "connection refused") {
		t.Errorf("/neuron health with the neuron stopped: %v, %s; want exit 1 and connection refused", err, out)
	}
	checkReadOnlyRoot(t, ctr)
	t.Logf("image test: %v", time.Since(start).Round(time.Second))
}

// containerProcess returns the pid of the process descending from pid
// whose command line is cmdline (its arguments, each ended by a NUL), as
// /proc shows them: the container's own process, under buildah's.
func containerProcess(t *testing.T, pid int, cmdline string) int {
	t.Helper()
	parents := map[int]int{}
	var found []int
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue // it has exited since
		}
		// pid (comm) state ppid ...: comm may hold spaces, so after the last ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 {
			parents[p], _ = strconv.Atoi(fields[1])
		}
		if b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline")); err == nil && string(b) == cmdline {
			found = append(found, p)
		}
	}
	for _, p := range found {
		for a, hops := parents[p], 0; a > 1 && hops < 64; a, hops = parents[a], hops+1 {
			if a == pid {
				return p
			}
		}
	}
	t.Fatalf("no process %q under buildah run (pid %d)", cmdline, pid)
	return 0
}

// volumes are the image's declared volumes: all the neuron may write.
var volumes = []string{"/plugins", "/data", "/tmp"}

// checkReadOnlyRoot checks, in the container's root file system after the
// neuron ran in it, that the user it runs as can write nothing outside the
// volumes: a read-only root file system takes nothing from it.
func checkReadOnlyRoot(t *testing.T, ctr string) {
	t.Helper()
	root := buildah(t, "mount", ctr)
	defer buildah(t, "umount", ctr)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(path, root), "/")
		for _, v := range volumes {
			if rel == v || strings.HasPrefix(rel, v+"/") {
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no owner in %T", rel, info.Sys())
		}
		perm := info.Mode().Perm()
		if st.Uid == 65532 || st.Gid == 65532 && perm&0o020 != 0 || perm&0o002 != 0 {
			t.Errorf("%s (%v, uid %d) is writable by the neuron's user outside the volumes %v", rel, info.Mode(), st.Uid, volumes)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking the container's root %s: %v", root, err)
	}
}

// imageConfig is what the test checks of the image's configuration, in
// the Docker format make image builds (the OCI format has no health
// check).
type imageConfig struct {
	User         string
	ExposedPorts map[string]struct{}
	Env          []string
	Entrypoint   []string
	Cmd          []string
	Volumes      map[string]struct{}
	Labels       map[string]string
	Healthcheck  *struct {
		Test []string
	}
}

func checkImageConfig(t *testing.T, image string) {
	var inspect struct {
		Docker struct {
			Config imageConfig `json:"config"`
		}
	}
	if err := json.Unmarshal([]byte(buildah(t, "inspect", "--type", "image", image)), &inspect); err != nil {
		t.Fatalf("buildah inspect: %v", err)
	}
	c := inspect.Docker.Config
	if c.User != "65532:65532" {
		t.Errorf("user %q, want the fixed non-root 65532:65532", c.User)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok || len(c.ExposedPorts) != 1 {
		t.Errorf("exposed ports %v, want 8080/tcp alone", c.ExposedPorts)
	}
	if c.Healthcheck == nil || !reflect.DeepEqual(c.Healthcheck.Test, []string{"CMD", "/neuron", "health"}) {
		t.Errorf("health check %+v, want CMD /neuron health (no shell)", c.Healthcheck)
	}
	if !reflect.DeepEqual(c.Entrypoint, []string{"/neuron"}) || !reflect.DeepEqual(c.Cmd, []string{"run"}) {
		t.Errorf("entrypoint %q cmd %q, want /neuron run", c.Entrypoint, c.Cmd)
	}
	for _, v := range volumes {
		if _, ok := c.Volumes[v]; !ok {
			t.Errorf("volumes %v lack %s", c.Volumes, v)
		}
	}
	for _, kv := range []string{"NEURON_PLUGINS_DIR=/plugins", "NEURON_DATA_DIR=/data", "TMPDIR=/tmp", "NEURON_LISTEN=:8080"} {
		if !slices.Contains(c.Env, kv) {
			t.Errorf("environment %q lacks %s", c.Env, kv)
		}
	}
	for _, l := range []string{"version", "revision", "created", "source", "title", "description"} {
		if v := c.Labels["org.opencontainers.image."+l]; v == "" || v == "unknown" {
			t.Errorf("label org.opencontainers.image.%s is %q", l, v)
		}
	}
	if _, err := time.Parse(time.RFC3339, c.Labels["org.opencontainers.image.created"]); err != nil {
		t.Errorf("label org.opencontainers.image.created: %v", err)
	}
}
