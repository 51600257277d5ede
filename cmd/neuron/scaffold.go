package main

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"

	"github.com/empirefederation/neuron/runtime"
)

// scaffold holds the templates of `neuron plugin new`, one per file of the
// project (NAME.tmpl makes NAME; gitignore.tmpl makes .gitignore).
//
//go:embed scaffold/*.tmpl
var scaffold embed.FS

const newUsage = `Usage: neuron plugin new [--sdk DIR] [--module PATH] NAME

Create the directory ./NAME holding a processor project that builds and
validates as generated: main.go (one endpoint, GET /NAME/{name}, and a
setting with its default), main_test.go (its test, with sdktest), go.mod,
README.md and .gitignore. Then it prints the commands to test, build and
validate it.

The project requires the Go SDK, module github.com/empirefederation/neuron/sdk.
Until the SDK is published, go.mod replaces it with a local checkout: the
sdk directory of the neuron repository that --sdk names, or that the
current directory is inside. A released neuron (version X.Y.Z) without
either requires the SDK released with it (tag sdk/vX.Y.Z).

Flags:
  --sdk DIR       the SDK to build against: the sdk directory of a neuron checkout
  --module PATH   the project's Go module path (default NAME)
`

// sdkModule is the Go SDK's module path.
const sdkModule = "github.com/empirefederation/neuron/sdk"

// sdkGoVersion is the go line of a project whose SDK is not local: the
// oldest Go the SDK builds with (go:wasmexport came in Go 1.24).
const sdkGoVersion = "1.24"

// project is what the templates of a new project are made from.
type project struct {
	Name, Module, Go, Build string
	SDKModule, SDKVersion   string
	SDKDir                  string // absolute; "" without a local SDK
}

func newFlags(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
	sdkDir := fs.String("sdk", "", "the SDK to build against: the sdk directory of a neuron checkout")
	module := fs.String("module", "", "the project's Go module path (default NAME)")
	return func(_ context.Context, args []string, stdout, stderr io.Writer) int {
		name := args[0]
		p, err := newProject(name, *module, *sdkDir)
		if err == nil {
			err = p.write(name)
		}
		if err != nil {
			fmt.Fprintf(stderr, "neuron plugin new: %v\n", err)
			return exitFailure
		}
		sdk := "the SDK " + p.SDKVersion
		if p.SDKDir != "" {
			sdk = "the SDK at " + p.SDKDir
		}
		fmt.Fprintf(stdout, "created %s/ with %s\n\nnext:\n  cd %s\n  go test ./...\n  %s\n  neuron plugin validate %s.wasm\n",
			name, sdk, name, p.Build, name)
		return exitOK
	}
}

// newProject describes the project NAME, with module path module (NAME
// when empty) and the SDK in sdkDir (found from the working directory when
// empty).
func newProject(name, module, sdkDir string) (*project, error) {
	if !runtime.ValidName(name) {
		return nil, fmt.Errorf("%q is not a processor name: use 1-64 lower-case letters, digits, '.', '_' or '-'", name)
	}
	p := &project{Name: name, Module: name, Go: sdkGoVersion, SDKModule: sdkModule,
		Build: "GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o " + name + ".wasm ."}
	if module != "" {
		p.Module = module
	}
	if sdkDir == "" {
		sdkDir = findSDK()
	}
	if sdkDir == "" {
		if !semver.IsValid("v"+version) || semver.Prerelease("v"+version) != "" {
			return nil, fmt.Errorf("this neuron is a development build (version %s), for which no SDK is published: pass --sdk DIR, the sdk directory of a neuron checkout, or run it from inside one", version)
		}
		p.SDKVersion = "v" + version
		return p, nil
	}
	abs, err := filepath.Abs(sdkDir)
	if err != nil {
		return nil, err
	}
	goVersion, err := sdkGo(abs)
	if err != nil {
		return nil, fmt.Errorf("--sdk %s: %w", sdkDir, err)
	}
	p.SDKDir, p.SDKVersion, p.Go = abs, "v0.0.0", goVersion
	return p, nil
}

// findSDK returns the sdk directory of the neuron checkout the working
// directory is inside, or "".
func findSDK() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := sdkGo(filepath.Join(dir, "sdk")); err == nil {
			return filepath.Join(dir, "sdk")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// sdkGo returns the go version of the SDK module in dir, failing when dir
// does not hold it.
func sdkGo(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("no SDK there: %w", err)
	}
	f, err := modfile.ParseLax("go.mod", b, nil)
	if err != nil {
		return "", err
	}
	if f.Module == nil || f.Module.Mod.Path != sdkModule {
		return "", fmt.Errorf("its go.mod is not module %s", sdkModule)
	}
	if f.Go == nil {
		return sdkGoVersion, nil
	}
	return f.Go.Version, nil
}

// write creates the directory dir and the project's files in it. It
// refuses a directory that exists, so that nothing is overwritten.
func (p *project) write(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists: choose another name, or remove it", dir)
		}
		return err
	}
	tpls, err := template.ParseFS(scaffold, "scaffold/*.tmpl")
	if err != nil {
		return err
	}
	for _, t := range tpls.Templates() {
		var b bytes.Buffer
		if err := t.Execute(&b, p); err != nil {
			return fmt.Errorf("%s: %w", t.Name(), err)
		}
		name := strings.TrimSuffix(t.Name(), ".tmpl")
		if name == "gitignore" {
			name = ".gitignore"
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
