package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/deploy/internal/deploytest"
)

// buildDir holds the processors and fleets the tests build for
// the whole test binary; TestMain removes it.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "neuron-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploy tests: cannot make a build directory:", err)
		os.Exit(1)
	}
	buildDir = dir
	code := deploytest.Main(m)
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// neuronBinary is the neuron built from the parent module.
func neuronBinary(t *testing.T) string { return deploytest.Neuron(t) }

// goBuild runs `go build args...` in the neuron module (the parent
// directory; its packages are outside this module) with env added.
func goBuild(env []string, args ...string) error {
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = deploytest.Root()
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// neuronEnvNames returns the environment variables `neuron run` reads, from
// the Environment section of its --help (the table it loads them with).
func neuronEnvNames(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command(neuronBinary(t), "run", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("neuron run --help: %v\n%s", err, out)
	}
	names := map[string]bool{}
	in := false
	for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
		line := sc.Text()
		switch {
		case line == "Environment:":
			in = true
		case in && strings.HasPrefix(line, "  "):
			names[strings.Fields(line)[0]] = true
		case in && len(names) > 0:
			in = false
		}
	}
	if len(names) < 10 {
		t.Fatalf("neuron run --help lists %d environment variables; its Environment section changed form:\n%s", len(names), out)
	}
	return names
}
