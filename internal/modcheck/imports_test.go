package modcheck_test

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/internal/testutil"
)

const module = testutil.ModulePath

// The layers of the module point one way: a rule names the packages it
// holds for and the import-path prefixes they must not link. Test files
// count where the rule says so (withTests): a test importing a package is
// a dependency too, but federation's and devfed's tests may run real
// neurons.
func TestImportGraph(t *testing.T) {
	for _, rule := range []struct {
		name      string
		packages  string
		forbidden []string
		withTests bool
	}{
		{"federation links neither wazero nor mux", "./federation/...",
			[]string{"github.com/tetratelabs/wazero", "github.com/gorilla/mux"}, false},
		{"the development federation does not link wazero", "./internal/devfed/...",
			[]string{"github.com/tetratelabs/wazero"}, false},
		{"nothing under internal/ imports cmd/", "./internal/...",
			[]string{module + "/cmd/"}, true},
	} {
		t.Run(rule.name, func(t *testing.T) {
			graph := importGraph(t, rule.packages, rule.withTests)
			for _, root := range graph.roots {
				if path := graph.pathTo(root, rule.forbidden); path != nil {
					t.Errorf("%s links %s: %s", short(root), path[len(path)-1], strings.Join(mapShort(path), " → "))
				}
			}
		})
	}
}

// graph is the import graph of some packages and everything they import.
type graph struct {
	roots   []string
	imports map[string][]string
}

// importGraph asks the go command for the packages of pattern and their
// dependencies; withTests adds the packages' tests and what they import.
func importGraph(t *testing.T, pattern string, withTests bool) graph {
	t.Helper()
	args := []string{"list", "-deps", "-e", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}"}
	rootArgs := []string{"list", "-e", "-f", "{{.ImportPath}}"}
	if withTests {
		args = append(args, "-test")
		rootArgs = append(rootArgs, "-test")
	}
	g := graph{imports: map[string][]string{}}
	for _, line := range goList(t, append(args, pattern)...) {
		// A test variant is "path [path.test]": its imports keep that
		// suffix too, so split on the paths' own separator.
		fields := splitPaths(line)
		g.imports[fields[0]] = fields[1:]
	}
	g.roots = goList(t, append(rootArgs, pattern)...)
	if len(g.roots) == 0 {
		t.Fatalf("go list %s: no packages", pattern)
	}
	return g
}

// pathTo returns the shortest import path from root to a package under
// one of the prefixes, or nil when root links none.
func (g graph) pathTo(root string, prefixes []string) []string {
	prev := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if slices.ContainsFunc(prefixes, func(pre string) bool { return strings.HasPrefix(short(p), pre) }) {
			var path []string
			for ; p != ""; p = prev[p] {
				path = append(path, p)
			}
			slices.Reverse(path)
			return path
		}
		for _, q := range g.imports[p] {
			if _, seen := prev[q]; !seen {
				prev[q] = p
				queue = append(queue, q)
			}
		}
	}
	return nil
}

// goList runs the go command in the repository and returns its lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = testutil.RepoRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// splitPaths splits a line of space-separated import paths, each perhaps
// followed by its test variant's " [path.test]".
func splitPaths(line string) []string {
	var out []string
	for _, f := range strings.Fields(line) {
		if strings.HasPrefix(f, "[") && len(out) > 0 {
			out[len(out)-1] += " " + f
			continue
		}
		out = append(out, f)
	}
	return out
}

// short is an import path without the test variant's suffix.
func short(p string) string {
	p, _, _ = strings.Cut(p, " ")
	return p
}

func mapShort(path []string) []string {
	out := make([]string, len(path))
	for i, p := range path {
		out[i] = strings.TrimPrefix(short(p), module+"/")
	}
	return out
}
