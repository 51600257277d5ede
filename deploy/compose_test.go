package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeEnv is what an operator exports before `docker compose up`: the
// variables the file requires, and nothing else (the process's own
// environment is not consulted, so the test sees the file's defaults).
var composeEnv = []string{
	"FEDERATION_ADMIN_TOKEN=0123456789abcdef0123456789abcdef",
	"POSTGRES_PASSWORD=0123456789abcdef",
}

// loadCompose loads a Compose file with compose-go as `docker compose`
// does (interpolation, schema validation, normalization, consistency
// checks), relative paths resolved against this directory.
func loadCompose(path string, env []string) (*types.Project, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	opts, err := cli.NewProjectOptions([]string{path}, cli.WithEnv(env), cli.WithWorkingDirectory(wd))
	if err != nil {
		return nil, fmt.Errorf("compose options: %w", err)
	}
	return opts.LoadProject(context.Background())
}

// TestCompose loads deploy/compose.yaml with the Compose specification's
// own library and checks the fleet it describes.
func TestCompose(t *testing.T) {
	p, err := loadCompose("compose.yaml", composeEnv)
	if err != nil {
		t.Fatalf("compose.yaml does not load: %v", err)
	}
	if err := checkCompose(p, neuronEnvNames(t)); err != nil {
		t.Fatalf("compose.yaml:\n%v", err)
	}
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		check := "none"
		if h := s.HealthCheck; h != nil && h.Disable {
			check = "disabled"
		} else if h != nil {
			check = strings.Join(h.Test, " ")
		}
		t.Logf("service %s: image %s, restart %s, health check %s", name, s.Image, s.Restart, check)
	}
}

// TestComposeRequiresSecrets: without the admin token or the database
// password the file does not load, and the error says which to set.
func TestComposeRequiresSecrets(t *testing.T) {
	for _, kv := range composeEnv {
		name, _, _ := strings.Cut(kv, "=")
		env := slices.DeleteFunc(slices.Clone(composeEnv), func(s string) bool { return s == kv })
		_, err := loadCompose("compose.yaml", env)
		if err == nil || !strings.Contains(err.Error(), "set "+name) {
			t.Errorf("compose.yaml loaded without %s: error %v, want one saying to set it", name, err)
		}
	}
}

// TestComposeCheckFailsOnBrokenFile breaks compose.yaml in one place at a
// time and shows that the load or the check reports it.
func TestComposeCheckFailsOnBrokenFile(t *testing.T) {
	orig, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := neuronEnvNames(t)
	for _, c := range []struct{ name, old, new, want string }{
		{"undeclared volume", "- neuron-2-data:/data", "- neuron-2-dat:/data", "neuron-2-dat"},
		{"same id twice", "NEURON_ID: neuron-2", "NEURON_ID: neuron-1", "NEURON_ID neuron-1"},
		{"unknown env", "NEURON_ID: neuron-2", "NEURON_ID: neuron-2\n      NEURON_PLUGIN_DIR: /plugins", "NEURON_PLUGIN_DIR"},
		{"plugins not shared", "- plugins:/plugins\n      - neuron-2-data:/data", "- neuron-2-data:/data", "NEURON_PLUGINS_DIR"},
		{"no health check", `test: ["CMD", "redis-cli", "ping"]`, "disable: true", "redis has no health check"},
		{"redis not awaited", "redis:\n      condition: service_healthy", "redis:\n      condition: service_started", "service_healthy"},
		{"dependency not probed", ";redis=redis:redis://redis:6379", "", "redis"},
		{"federation health", "healthcheck:\n      disable: true\n", "", "not disabled"},
		{"schema", "restart: unless-stopped\n    command: [\"redis-server\"", "restrat: unless-stopped\n    command: [\"redis-server\"", "restrat"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if n := strings.Count(string(orig), c.old); n != 1 {
				t.Fatalf("compose.yaml holds %q %d times, want once: update this case", c.old, n)
			}
			path := filepath.Join(t.TempDir(), "compose.yaml")
			if err := os.WriteFile(path, []byte(strings.Replace(string(orig), c.old, c.new, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			p, err := loadCompose(path, composeEnv)
			if err == nil {
				err = checkCompose(p, env)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("broken compose.yaml: error %v, want one naming %q", err, c.want)
			}
			t.Logf("reported: %v", err)
		})
	}
}

// checkCompose checks what compose-go cannot know: the fleet's shape
// (a federation, at least two neurons with distinct ids sharing one plugins
// volume, PostgreSQL and Redis probed by the neurons), health checks,
// restart policies, and that the neurons get only settings they read.
func checkCompose(p *types.Project, neuronEnv map[string]bool) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	var fed, pg, redis string
	var neurons []types.ServiceConfig
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		switch {
		case len(s.Command) >= 2 && s.Command[0] == "federation" && s.Command[1] == "serve":
			fed = name
		case len(s.Command) >= 1 && s.Command[0] == "run":
			neurons = append(neurons, s)
		case strings.HasPrefix(s.Image, "postgres:"):
			pg = name
		case strings.HasPrefix(s.Image, "redis:"):
			redis = name
		}
		if s.Restart == "" || s.Restart == types.RestartPolicyNo {
			fail("service %s has no restart policy", name)
		}
		if host, _, ok := strings.Cut(s.Image, "/"); ok && strings.ContainsAny(host, ".:") {
			fail("service %s: image %s names a registry host; images are built or named without one", name, s.Image)
		}
		// The federation serves no health route (see compose.yaml).
		if name != fed && (s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0) {
			fail("service %s has no health check", name)
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume {
				if _, ok := p.Volumes[v.Source]; !ok {
					fail("service %s mounts volume %s, which is not declared", name, v.Source)
				}
			}
		}
	}
	if fed == "" || pg == "" || redis == "" || len(neurons) < 2 {
		return fmt.Errorf("want a federation (federation serve), PostgreSQL, Redis and at least two neurons (run); got federation %q, postgres %q, redis %q, %d neurons", fed, pg, redis, len(neurons))
	}
	errs = append(errs, checkFederation(p, p.Services[fed]))
	ids := map[string]string{}
	var plugins []string
	for _, n := range neurons {
		env := func(k string) string {
			if v := n.Environment[k]; v != nil {
				return *v
			}
			return ""
		}
		for k := range n.Environment {
			if !neuronEnv[k] {
				fail("neuron %s: %s is not a setting the neuron reads (neuron run --help)", n.Name, k)
			}
		}
		id := env("NEURON_ID")
		if other, dup := ids[id]; dup || id == "" {
			fail("neurons %s and %s: NEURON_ID %s, want a distinct id each", other, n.Name, id)
		}
		ids[id] = n.Name
		if u, err := url.Parse(env("NEURON_BASE_URL")); err != nil || u.Hostname() != n.Name {
			fail("neuron %s: NEURON_BASE_URL %q, want its service name as host, where the federation reaches it", n.Name, env("NEURON_BASE_URL"))
		}
		if u, err := url.Parse(env("FEDERATION_URL")); err != nil || u.Hostname() != fed {
			fail("neuron %s: FEDERATION_URL %q does not name the federation service %s", n.Name, env("FEDERATION_URL"), fed)
		}
		if !slices.Equal(n.HealthCheck.Test, types.HealthCheckTest{"CMD", "/neuron", "health"}) {
			fail("neuron %s: health check %v, want the image's own `/neuron health`", n.Name, n.HealthCheck.Test)
		}
		for dep, cond := range map[string]string{fed: types.ServiceConditionStarted, pg: types.ServiceConditionHealthy, redis: types.ServiceConditionHealthy} {
			if d, ok := n.DependsOn[dep]; !ok || d.Condition != cond {
				fail("neuron %s: depends_on %s with condition %q, want %s", n.Name, dep, d.Condition, cond)
			}
		}
		probed := dependencyHosts(env("NEURON_DEPENDENCIES"))
		for kind, svc := range map[string]string{"postgres": pg, "redis": redis} {
			if probed[kind] != svc {
				fail("neuron %s: NEURON_DEPENDENCIES probes %s at %q, want service %s", n.Name, kind, probed[kind], svc)
			}
		}
		plugins = append(plugins, volumeAt(n, env("NEURON_PLUGINS_DIR")))
		data := volumeAt(n, env("NEURON_DATA_DIR"))
		if data == "" || slices.Contains(plugins, data) {
			fail("neuron %s: NEURON_DATA_DIR %q is not on a volume of its own", n.Name, env("NEURON_DATA_DIR"))
		}
		if other, dup := ids["data:"+data]; dup {
			fail("neurons %s and %s share data volume %s", other, n.Name, data)
		}
		ids["data:"+data] = n.Name
	}
	if plugins[0] == "" || slices.ContainsFunc(plugins, func(s string) bool { return s != plugins[0] }) {
		fail("the neurons' NEURON_PLUGINS_DIR are on volumes %q, want one named volume shared by all", plugins)
	}
	return errors.Join(errs...)
}

// checkFederation checks the development federation's service: listening
// beyond loopback it needs a strong admin token and its allowed host
// names, its data on a named volume, and the image built from the
// repository's Containerfile.
func checkFederation(p *types.Project, s types.ServiceConfig) error {
	var errs []error
	args := map[string]string{}
	for i := 2; i+1 < len(s.Command); i += 2 {
		args[s.Command[i]] = s.Command[i+1]
	}
	if tok := s.Environment["FEDERATION_ADMIN_TOKEN"]; tok == nil || len(*tok) < 16 {
		errs = append(errs, fmt.Errorf("federation %s: FEDERATION_ADMIN_TOKEN unset or shorter than 16 characters", s.Name))
	}
	if h := s.Environment["FEDERATION_ALLOWED_HOSTS"]; h == nil || !slices.Contains(strings.Split(*h, ","), s.Name) {
		errs = append(errs, fmt.Errorf("federation %s: FEDERATION_ALLOWED_HOSTS does not name %s, the name it is reached by", s.Name, s.Name))
	}
	if !strings.HasPrefix(args["--listen"], "0.0.0.0:") {
		errs = append(errs, fmt.Errorf("federation %s: --listen %q, want 0.0.0.0:PORT to be reached by the neurons", s.Name, args["--listen"]))
	}
	if volumeAt(s, args["--data"]) == "" {
		errs = append(errs, fmt.Errorf("federation %s: --data %q is not on a named volume", s.Name, args["--data"]))
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	// make image's build context is bin/image; the Containerfile is the
	// repository's.
	if b := s.Build; b == nil || b.Context != filepath.Join(root, "bin", "image") || filepath.Join(b.Context, b.Dockerfile) != filepath.Join(root, "Containerfile") {
		errs = append(errs, fmt.Errorf("federation %s: build %+v, want the repository's Containerfile with make image's context %s", s.Name, s.Build, filepath.Join(root, "bin", "image")))
	}
	if s.HealthCheck == nil || !s.HealthCheck.Disable {
		errs = append(errs, fmt.Errorf("federation %s: the image's health check (/neuron health, a neuron's /health) is not disabled; the federation can never pass it", s.Name))
	}
	if img := p.Services[s.Name].Image; !strings.HasPrefix(img, "neuron:") {
		errs = append(errs, fmt.Errorf("federation %s: image %s, want neuron:VERSION", s.Name, img))
	}
	return errors.Join(errs...)
}

// volumeAt returns the named volume mounted at target in s, or "".
func volumeAt(s types.ServiceConfig, target string) string {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Target == target && target != "" {
			return v.Source
		}
	}
	return ""
}

// dependencyHosts maps each kind of NEURON_DEPENDENCIES
// ([name=]kind:target;...) to the host its target names.
func dependencyHosts(deps string) map[string]string {
	hosts := map[string]string{}
	for item := range strings.SplitSeq(deps, ";") {
		if name, rest, ok := strings.Cut(item, "="); ok && !strings.Contains(name, ":") {
			item = rest
		}
		kind, target, _ := strings.Cut(item, ":")
		if u, err := url.Parse(target); err == nil {
			hosts[kind] = u.Hostname()
		}
	}
	return hosts
}

// TestComposeNeuronsStart runs the neuron binary with each compose neuron's
// environment, as its container would (only the listen address and the
// directories moved to loopback and a temporary directory): the
// configuration loads as the neuron reads it (a plain http federation
// allowed, the dependencies parsed), it serves, and its /health names both
// probed dependencies.
func TestComposeNeuronsStart(t *testing.T) {
	p, err := loadCompose("compose.yaml", composeEnv)
	if err != nil {
		t.Fatal(err)
	}
	bin := neuronBinary(t)
	for _, name := range []string{"neuron-1", "neuron-2"} {
		t.Run(name, func(t *testing.T) {
			addr, err := freeAddr()
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			env := []string{"PATH=" + os.Getenv("PATH")}
			for k, v := range p.Services[name].Environment {
				env = append(env, k+"="+*v)
			}
			env = append(env, "NEURON_LISTEN="+addr, "NEURON_PLUGINS_DIR="+dir, "NEURON_DATA_DIR="+filepath.Join(dir, "data"))
			var log bytes.Buffer
			cmd := exec.Command(bin, "run")
			cmd.Env, cmd.Stdout, cmd.Stderr = env, &log, &log
			exited, err := start(cmd)
			if err != nil {
				t.Fatal(err)
			}
			defer stop(cmd, exited)
			var health struct{ Dependencies map[string]string }
			err = poll("/health with both dependencies", func() error {
				select {
				case <-exited:
					return fmt.Errorf("the neuron exited: %w", errFinal)
				default:
				}
				body, err := call("GET", "http://"+addr+"/health", "", 0)
				if err == nil {
					err = json.Unmarshal([]byte(body), &health)
				}
				if err == nil && (health.Dependencies["postgresql"] == "" || health.Dependencies["redis"] == "") {
					err = fmt.Errorf("dependencies %v, want postgresql and redis", health.Dependencies)
				}
				return err
			})
			if err != nil {
				t.Fatalf("%v\nneuron log:\n%s", err, log.String())
			}
			t.Logf("/health dependencies (no PostgreSQL or Redis here): %v", health.Dependencies)
		})
	}
}
