package modcheck_test

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/empirefederation/neuron/internal/testutil"
)

// designRef is a reference from code to a heading of docs/design.md, as
// comments and messages write it: the file's path, a comma and the heading
// in double quotes. A comment may wrap it over lines; a Go string escapes
// its quotes.
var designRef = regexp.MustCompile(`docs/design\.md,\s*\\?"([^"\\]+)\\?"`)

// commentBreak is a line break inside a comment, with the next line's //.
var commentBreak = regexp.MustCompile(`\n\s*//\s*`)

// Every reference from a Go file to a heading of docs/design.md names a
// heading it has, so that a renamed heading cannot leave code pointing
// nowhere.
func TestDesignReferences(t *testing.T) {
	root := testutil.RepoRoot(t)
	headings := designHeadings(t, filepath.Join(root, "docs", "design.md"))
	refs := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text := commentBreak.ReplaceAllString(string(b), " ")
		for _, m := range designRef.FindAllStringSubmatch(text, -1) {
			refs++
			if !headings[m[1]] {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s refers to docs/design.md, %q: no such heading", rel, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if refs == 0 {
		t.Fatal("found no reference to docs/design.md: the pattern no longer matches how code writes them")
	}
}

// designHeadings returns the text of every Markdown heading of the file.
func designHeadings(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	headings := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "#") {
			headings[strings.TrimSpace(strings.TrimLeft(line, "#"))] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return headings
}
